"""Identity and access: org units, members, roles, sign-in and the one authorisation check."""
