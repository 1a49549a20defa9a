"""`localgpt desktop`: the web page in a native window of its own.

`instance` keeps one window per home, `backend` finds or starts the services behind it, and
`window` (the only module that imports Qt, from the optional `desktop` extra) shows the page.
"""
