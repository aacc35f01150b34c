"""A small SIP user agent on the sans-IO core (:mod:`kamtool.sip`) with an asyncio shell.

:mod:`kamtool.ua.phone` registers, calls, answers and hangs up over UDP, as the simulated
phones of ``kamtool demo`` (:mod:`kamtool.ua.demo`). Nothing here imports typer, rich or
textual.
"""
