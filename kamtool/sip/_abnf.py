"""RFC 3261 section 25 grammar pieces as regular-expression strings.

Only the productions the parser needs, written as ``str`` patterns (structured header
values are matched after decoding with ``surrogateescape``, so any byte survives). Names
follow the ABNF. Structured values are unfolded (LWS continuations replaced by a space)
before they are matched, so ``SWS`` here is just optional blanks.
"""

from __future__ import annotations

# --- basic rules ---------------------------------------------------------------------
SWS = r"[ \t]*"
LWS = r"[ \t]+"
alphanum = r"A-Za-z0-9"
# token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")
token_char = r"A-Za-z0-9\-.!%*_+`'~"
token = rf"[{token_char}]+"
# word also allows separators except SP/HTAB/";"/","/"="/"@" (used by Call-ID)
word_char = token_char + r"()<>:\\\"/\[\]?{}"
word = rf"[{word_char}]+"
callid = rf"{word}(?:@{word})?"
# quoted-string: DQUOTE *(qdtext / quoted-pair) DQUOTE, qdtext excludes DQUOTE and "\"
quoted_string = r'"(?:[^"\\\x00-\x08\x0a-\x1f\x7f]|\\[\x00-\x09\x0b\x0c\x0e-\x7f])*"'
# any character but DQUOTE and backslash, or a quoted pair: used to skip over strings
quoted_string_loose = r'"(?:[^"\\]|\\.)*"'

# --- URIs (RFC 3261 section 19.1.1 / 25.1) ---------------------------------------------
escaped = r"%[0-9A-Fa-f]{2}"
unreserved = r"A-Za-z0-9\-_.!~*'()"
user_unreserved = r"&=+$,;?/"
user = rf"(?:[{unreserved}{user_unreserved}]|{escaped})+"
password = rf"(?:[{unreserved}&=+$,]|{escaped})*"
scheme = r"[A-Za-z][A-Za-z0-9+\-.]*"
_label = r"[A-Za-z0-9_](?:[A-Za-z0-9\-_]*[A-Za-z0-9_])?"
hostname = rf"(?:{_label}\.)*{_label}\.?"
IPv4address = r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}"
IPv6address = r"[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*"
IPv6reference = rf"\[{IPv6address}\]"
host = rf"(?:{IPv6reference}|{hostname})"
port = r"\d{1,5}"
# uri-parameter: paramchar = param-unreserved / unreserved / escaped
param_unreserved = r"\[\]/:&+$"
paramchar = rf"(?:[{param_unreserved}{unreserved}]|{escaped})"
uri_param = rf"{paramchar}+(?:={paramchar}*)?"
hnv_unreserved = r"\[\]/?:+$"
hchar = rf"(?:[{hnv_unreserved}{unreserved}]|{escaped})"
uri_header = rf"{hchar}+={hchar}*"

# --- header parameters ------------------------------------------------------------------
# generic-param = token [ EQUAL gen-value ]; gen-value = token / host / quoted-string
gen_value = rf"(?:{IPv6reference}|[0-9A-Fa-f]*:[0-9A-Fa-f:.]+|{token}|{quoted_string})"
generic_param = rf"{token}(?:{SWS}={SWS}{gen_value})?"

# --- start lines ----------------------------------------------------------------------
SIP_version = r"SIP/\d+\.\d+"
Request_Line = rf"({token}) (\S+) ([A-Za-z]+/\d+\.\d+)"
Status_Line = r"([A-Za-z]+/\d+\.\d+) (\d+) ?(.*)"
