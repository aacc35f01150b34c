"""A KEMI route script (written for kamtool's tests) that evaluates the KSR.sqlops
expressions of the group the request's R-URI user names (:data:`PROBES`) on the
connection ``ca`` and appends what each returned, as one JSON line, to the file the
``X-Out`` header names; then answers ``200 Probed``. tests/ksr/test_sqlops.py runs it on
Kamailio 5.6 (with sqlops.so) and on kamtool. The groups run in order, in one process:
a later group reads the results an earlier one left.

A value is recorded as ``repr()``; an exception as ``EXC:<type>``.
"""

import json

import KSR

Q = "KSR.sqlops.sql_query"
SELECT = "SELECT id, name, note, num FROM sqlops_probe ORDER BY id"

# fmt: off
PROBES = {
    "setup": [
        Q + "('ca', 'DROP TABLE IF EXISTS sqlops_probe', 'r0')",
        Q + "('ca', 'CREATE TABLE sqlops_probe (id INTEGER PRIMARY KEY, name VARCHAR(64), "
        "note TEXT, num INTEGER, ratio REAL, big BIGINT)', 'r0')",
        Q + "('ca', \"INSERT INTO sqlops_probe VALUES (1, 'alice', 'first', 10, 0.5, 5)\", 'r0')",
        Q + "('ca', \"INSERT INTO sqlops_probe VALUES (2, 'bob', NULL, -3, NULL, NULL)\", 'r0')",
        Q + "('ca', \"INSERT INTO sqlops_probe VALUES (3, 'carol', '', 12345678901, 2, "
        "12345678901)\", 'r0')",
        "KSR.pv.get('$dbr(r0=>rows)')", "KSR.pv.get('$dbr(r0=>cols)')",
        "KSR.pv.get('$sqlrows(ca)')",
        Q + "('ca', \"UPDATE sqlops_probe SET note = 'upd' WHERE id = 1\", 'r0')",
        "KSR.sqlops.sql_query_async('ca', \"UPDATE sqlops_probe SET num = 11 WHERE id = 1\")",
    ],
    "select": [
        Q + "('ca', '" + SELECT + "', 'ra')",
        "KSR.pv.get('$dbr(ra=>rows)')", "KSR.pv.get('$dbr(ra=>cols)')",
        "KSR.pv.get('$dbr(ra=>[0,0])')", "KSR.pv.get('$dbr(ra=>[0,1])')",
        "KSR.pv.get('$dbr(ra=>[0,2])')", "KSR.pv.get('$dbr(ra=>[1,2])')",
        "KSR.pv.get('$dbr(ra=>[1,3])')", "KSR.pv.get('$dbr(ra=>[2,2])')",
        "KSR.pv.get('$dbr(ra=>[2,3])')", "KSR.pv.get('$dbr(ra=>[3,0])')",
        "KSR.pv.get('$dbr(ra=>[0,4])')", "KSR.pv.get('$dbr(ra=>colname[0])')",
        "KSR.pv.get('$dbr(ra=>colname[3])')", "KSR.pv.get('$dbr(ra=>colname[4])')",
        "KSR.pv.get('$dbr( ra => [ 1 , 1 ] )')",
        "KSR.pv.seti('$var(i)', 2)", "KSR.pv.get('$dbr(ra=>[$var(i),1])')",
        "KSR.pv.gete('$dbr(ra=>[1,2])')", "KSR.pv.getw('$dbr(ra=>[1,2])')",
        "KSR.sqlops.sql_num_rows('ra')", "KSR.sqlops.sql_num_columns('ra')",
        "KSR.sqlops.sql_is_null('ra', 1, 2)", "KSR.sqlops.sql_is_null('ra', 0, 2)",
        "KSR.sqlops.sql_is_null('ra', 3, 0)", "KSR.sqlops.sql_is_null('ra', 0, 4)",
        "KSR.sqlops.sql_result_get('ra', 0, 1)", "KSR.sqlops.sql_result_get('ra', 0, 3)",
        "KSR.sqlops.sql_result_get('ra', 1, 2)", "KSR.sqlops.sql_result_gete('ra', 1, 2)",
        "KSR.sqlops.sql_result_getz('ra', 1, 2)", "KSR.sqlops.sql_result_get('ra', 7, 0)",
        "KSR.sqlops.sql_result_gete('ra', 7, 0)", "KSR.sqlops.sql_result_getz('ra', 0, 9)",
        "KSR.sqlops.sql_result_get('nores', 0, 0)",
        "KSR.sqlops.sql_num_rows('never')", "KSR.pv.get('$dbr(never2=>rows)')",
        "KSR.pv.get('$dbr(never2=>[0,0])')",
        Q + "('ca', 'SELECT ratio, big, count(*) AS n FROM sqlops_probe WHERE id = 1', 'rb')",
        "KSR.pv.get('$dbr(rb=>[0,0])')", "KSR.pv.get('$dbr(rb=>[0,1])')",
        "KSR.pv.get('$dbr(rb=>[0,2])')", "KSR.pv.get('$dbr(rb=>colname[2])')",
        Q + "('ca', \"SELECT 7, 'x', NULL, 2.5\", 'rc')",
        "[KSR.pv.get('$dbr(rc=>[0,%d])' % i) for i in range(4)]",
        "KSR.pv.get('$dbr(rc=>colname[1])')",
    ],
    "keep": [
        "KSR.pv.get('$dbr(ra=>rows)')", "KSR.pv.get('$dbr(ra=>[2,1])')",
        Q + "('ca', 'SELECT name FROM sqlops_probe WHERE id > 100', 'ra')",
        "KSR.pv.get('$dbr(ra=>rows)')", "KSR.pv.get('$dbr(ra=>cols)')",
        "KSR.pv.get('$dbr(ra=>colname[0])')",
        Q + "('ca', 'SELECT name FROM sqlops_probe WHERE id = 2', 'ra')",
        "KSR.pv.get('$dbr(ra=>[0,0])')", "KSR.sqlops.sql_result_free('ra')",
        "KSR.pv.get('$dbr(ra=>rows)')", "KSR.pv.get('$dbr(ra=>[0,0])')",
        "KSR.sqlops.sql_result_free('nothing')",
        Q + "('ca', 'SELECT name FROM sqlops_probe WHERE id = 3', 'rd')",
        Q + "('ca', 'SELEC name FROM sqlops_probe', 'rd')", "KSR.pv.get('$dbr(rd=>rows)')",
        Q + "('ca', 'SELECT name FROM sqlops_probe WHERE id = 3', 'rd')",
        Q + "('ca', 'SELECT * FROM no_such_table', 'rd')", "KSR.pv.get('$dbr(rd=>rows)')",
        Q + "('ca', \"INSERT INTO sqlops_probe (id, name) VALUES (1, 'dup')\", 'rd')",
        Q + "('nocon', 'SELECT 1', 'rd')", "KSR.sqlops.sql_query_async('nocon', 'SELECT 1')",
        Q + "('ca', 'SELECT count(*) FROM sqlops_probe', 're')",
        "KSR.pv.get('$dbr(re=>[0,0])')",
        Q + "('ca', 'SELECT num FROM sqlops_probe WHERE id = 1', 're')",
        "KSR.pv.get('$dbr(re=>[0,0])')", "KSR.pv.get('$dbr(re=>[1,0])')",
        Q + "('ca', \"SELECT name FROM sqlops_probe WHERE name LIKE 'a%'\", 'rf')",
        "KSR.pv.get('$dbr(rf=>[0,0])')",
    ],
    "xquery": [
        "KSR.sqlops.sql_xquery('ca', 'SELECT id, name, note FROM sqlops_probe ORDER BY id', "
        "'xr')",
        "KSR.pv.get('$xavp(xr=>name)')", "KSR.pv.get('$xavp(xr=>id)')",
        "KSR.pv.get('$xavp(xr[1]=>name)')", "KSR.pv.get('$xavp(xr[1]=>note)')",
        "KSR.pv.get('$xavp(xr[2]=>note)')", "KSR.pv.get('$xavp(xr[2]=>id)')",
        "KSR.pv.get('$xavp(xr[3]=>id)')", "KSR.pv.get('$xavp(xr=>nope)')",
        "KSR.sqlops.sql_xquery('ca', 'SELECT id FROM sqlops_probe WHERE id = 2', 'xr')",
        "KSR.pv.get('$xavp(xr=>id)')", "KSR.pv.get('$xavp(xr[1]=>name)')",
        "KSR.pv.get('$xavp(xr[3]=>name)')",
        "KSR.sqlops.sql_xquery('ca', 'SELECT id FROM sqlops_probe WHERE id > 100', 'xe')",
        "KSR.pv.get('$xavp(xe=>id)')",
        "KSR.sqlops.sql_xquery('ca', 'SELECT bad FROM sqlops_probe', 'xe')",
        "KSR.sqlops.sql_xquery('nocon', 'SELECT 1', 'xe')",
    ],
    "pvquery": [
        "KSR.pv.seti('$var(i)', 1)",
        "KSR.sqlops.sql_pvquery('ca', 'SELECT name, num FROM sqlops_probe WHERE id = $var(i)',"
        " '$var(n), $avp(m)')",
        "KSR.pv.get('$var(n)')", "KSR.pv.get('$avp(m)')",
        "KSR.sqlops.sql_pvquery('ca', 'SELECT name, note FROM sqlops_probe ORDER BY id', "
        "'$var(a);$avp(b)')",
        "KSR.pv.get('$var(a)')", "KSR.pv.get('$(avp(b)[*])')", "KSR.pv.get('$(avp(b)[1])')",
        "KSR.sqlops.sql_pvquery('ca', 'SELECT name FROM sqlops_probe WHERE id > 100', "
        "'$var(z)')",
        "KSR.pv.get('$var(z)')",
        "KSR.sqlops.sql_pvquery('ca', 'SELECT name, num FROM sqlops_probe WHERE id = 3', "
        "'$var(only)')",
        "KSR.pv.get('$var(only)')",
        "KSR.sqlops.sql_pvquery('ca', 'SELECT nope FROM sqlops_probe', '$var(z)')",
        "KSR.sqlops.sql_pvquery('ca', 'SELECT note FROM sqlops_probe WHERE id = 2', "
        "'$var(nl)')",
        "KSR.pv.get('$var(nl)')",
        "KSR.sqlops.sql_pvquery('nocon', 'SELECT 1', '$var(z)')",
    ],
}
# fmt: on


def mod_init():
    return Probe()


def run_group(name):
    results = []
    for expr in PROBES.get(name, []):
        try:
            results.append([expr, repr(eval(expr))])
        except BaseException as exc:
            results.append([expr, "EXC:" + type(exc).__name__])
    return results


class Probe:
    def child_init(self, rank):  # app_python3 refuses to start without it
        return 0

    def ksr_reply_route(self, msg):
        return 1

    def ksr_request_route(self, msg):
        if KSR.is_ACK() or KSR.is_CANCEL():
            return 1
        group = KSR.pv.gete("$rU")
        results = run_group(group)
        out = KSR.hdr.get("X-Out")
        if out:
            with open(out, "a") as f:
                f.write(json.dumps({"group": group, "results": results}) + "\n")
        KSR.sl.sl_send_reply(200, "Probed")
        return 1
