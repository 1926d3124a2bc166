"""The console's own logic, apart from its pages: reading and importing a member roll, the monthly
report and its files, the settlement sheets, spreadsheet-safe cells, the audit log's CSV export,
the dashboard's bar charts and the member cards page's counts. The page modules
(``admin.PAGE_MODULES``) call these."""
