"""The console's own logic, apart from its pages: reading and importing a member roll, the monthly
report and its files, the settlement sheets, spreadsheet-safe cells, the audit log's CSV export
and the dashboard's bar charts. The page modules (``admin.PAGE_MODULES``) call these."""
