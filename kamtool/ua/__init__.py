"""A small SIP user agent on the sans-IO core (:mod:`kamtool.sip`) with an asyncio shell.

:mod:`kamtool.ua.phone` registers, calls, answers and hangs up over UDP, as the simulated
phones of ``kamtool demo`` (:mod:`kamtool.ua.demo`); :mod:`kamtool.ua.call` holds what a
phone keeps about its calls and messages. Nothing here imports typer, rich or
textual.
"""
