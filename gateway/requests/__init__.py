"""Information requests between agencies (issue 21): one agency asks another for named fields."""
