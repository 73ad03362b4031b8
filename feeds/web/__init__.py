"""The readers' side of the newsletter: subscribe, confirm, choose categories, unsubscribe.

A Starlette app served by uvicorn (``feeds serve``). Routes stay thin: they
parse the request, call one function of ``feeds.newsletter`` and render one
template, so the web and the command line never behave differently.
"""
