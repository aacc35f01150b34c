"""A KEMI route script in app_python3's style (written for kamtool's tests) that evaluates
the KSR expressions of the group the request's R-URI user names (:data:`PROBES`) and
appends what each returned, as one JSON line, to the file the ``X-Out`` header names; then
relays the request to ``X-Relay`` (a test's peer, to see the edits on the wire) or answers
``200 Probed``. tests/ksr/test_api_kamailio.py runs it on Kamailio 5.6 and on kamtool.

A value is recorded as ``repr()``; an exception as ``EXC:<type>``.
"""

import json

import KSR

PROBES = {
    "xlog": [
        "KSR.xlog.xinfo('XLOGTEST info $rm $fU ru=$ru\\n')",
        "KSR.xlog.xerr('XLOGTEST err $rU [$hdr(X-A)] [$hdr(X-Nope)] [$avp(none)]\\n')",
        "KSR.xlog.xerr('XLOGTEST twodollars $$ end\\n')",
        "KSR.xlog.xerr('XLOGTEST trailing 5$')",
        "KSR.xlog.xerr('XLOGTEST spaced $ 5\\n')",
        "KSR.xlog.xerr('XLOGTEST unknown $bogus\\n')",
        "KSR.xlog.xwarn('XLOGTEST warn $(hdr(X-A)) $ci\\n')",
        "KSR.xlog.xnotice('XLOGTEST notice $si:$sp\\n')",
        "KSR.xlog.xcrit('XLOGTEST crit\\n')",
        "KSR.xlog.xalert('XLOGTEST alert\\n')",
        "KSR.xlog.xdbg('XLOGTEST dbg\\n')",
        "KSR.xlog.xlog('L_WARN', 'XLOGTEST level $rm\\n')",
        "KSR.xlog.xlog('l_info', 'XLOGTEST lower\\n')",
        "KSR.xlog.xlog('L_DBG', 'XLOGTEST dbglevel\\n')",
        "KSR.xlog.xlog('bogus', 'XLOGTEST bogus level\\n')",
        "KSR.info('XLOGTEST core info\\n')",
        "KSR.err('XLOGTEST core err\\n')",
        "KSR.log('info', 'XLOGTEST core log\\n')",
    ],
    "core": [
        "KSR.is_UDP()", "KSR.is_TCP()", "KSR.is_TLS()", "KSR.is_WS()", "KSR.is_WSS()",
        "KSR.is_WSX()", "KSR.is_SCTP()", "KSR.is_IPv4()", "KSR.is_IPv6()",
        "KSR.is_proto('u')", "KSR.is_proto('T')", "KSR.is_proto('tew')", "KSR.is_proto('U')",
        "KSR.is_method('MESSAGE')", "KSR.is_method('message')", "KSR.is_method('INVITE')",
        "KSR.is_method('INVITE|MESSAGE')", "KSR.is_method('INVITE|BYE')",
        "KSR.setsflag(3)", "KSR.issflagset(3)", "KSR.resetsflag(3)", "KSR.issflagset(3)",
        "KSR.setsflag(40)",
        "KSR.setflag(2)", "KSR.isflagset(2)", "KSR.resetflag(2)", "KSR.isflagset(2)",
        "KSR.setflag(40)", "KSR.isflagset(40)", "KSR.setbflag(5)", "KSR.resetbflag(5)",
        "KSR.setbflag(40)", "KSR.isbflagset(40)", "KSR.force_rport()", "KSR.add_local_rport()",
        "KSR.setdsturi('sip:127.0.0.1:5')", "KSR.resetdsturi()", "KSR.isdsturiset()",
        "KSR.is_src_port(KSR.pv.get('$sp'))", "KSR.is_src_port(1)",
        "KSR.is_dst_port(KSR.pv.get('$Rp'))", "KSR.is_dst_port(1)",
        "KSR.kex.setdebug(3)", "KSR.kex.resetdebug()",
    ],
    "hdr": [
        "KSR.hdr.get('X-A')", "KSR.hdr.gete('X-Nope')", "KSR.hdr.getw('X-Nope')",
        "KSR.hdr.gete('X-A')", "KSR.hdr.getw('X-A')", "KSR.hdr.get('X-Multi')",
        "KSR.hdr.get_idx('X-Multi', 0)", "KSR.hdr.get_idx('X-Multi', 1)",
        "KSR.hdr.get_idx('X-Multi', -1)", "KSR.hdr.get_idx('X-Multi', 2)",
        "KSR.hdr.gete_idx('X-Multi', 5)", "KSR.hdr.getw_idx('X-Multi', 5)",
        "KSR.hdr.get_idx('x-multi', -2)",
"KSR.hdr.match_content('X-Multi', 'eq', 'm2', 'one')",
        "KSR.hdr.match_content('X-Multi', 'eq', 'M2', 'all')",
        "KSR.hdr.match_content('X-Multi', 'sw', 'm', 'all')",
        "KSR.hdr.match_content('X-Multi', 'eq', 'm1', 'first')",
        "KSR.hdr.match_content('X-Multi', 'eq', 'm1', 'last')",
        "KSR.hdr.match_content('X-Multi', 'ne', 'm1', 'last')",
        "KSR.hdr.match_content('X-Multi', 'in', '1', 'first')",
        "KSR.hdr.match_content('X-Multi', 're', 'm', 'first')",
        "KSR.hdr.match_content('X-Nope', 'eq', 'x', 'one')",
        "KSR.hdr.remove('X-Nope')", "KSR.textops.remove_hf('X-Nope')",
    ],
    "hdrwire": [
        "KSR.hdr.append_after('X-After: 1\\r\\n', 'X-A')",
        "KSR.hdr.insert_before('X-Before: 1\\r\\n', 'X-A')",
        "KSR.hdr.rminsert('X-B', 'X-First: 1\\r\\n')",
        "KSR.hdr.append_after('X-Never: 1\\r\\n', 'X-Nope')",
    ],
    "textops": [
        "KSR.textops.search('^X-A')", "KSR.textops.search('^val')",
        "KSR.textops.search('x-a: VAL')", "KSR.textops.search_body('^hello')",
        "KSR.textops.has_body_type('text/plain')", "KSR.textops.has_body_type('application/sdp')",
        "KSR.textops.search_hf('X-Multi', 'm2', 'a')",
        "KSR.textops.search_hf('X-Multi', 'm2', 'f')",
        "KSR.textops.search_hf('X-Multi', 'm2', 'l')", "KSR.textops.search_hf('X-Nope', '.', 'a')",
        "KSR.textops.is_present_hf_re('^X-G')", "KSR.textops.is_present_hf_re('^X-Z')",
        "KSR.textops.in_list('b', 'a,b,c', ',')", "KSR.textops.in_list('d', 'a, b,c', ',')",
        "KSR.textops.in_list('b', 'a, b ,c', ',')",
        "KSR.textops.in_list_prefix('abcd', 'x,ab', ',')",
        "KSR.textops.starts_with('abcdef', 'abc')", "KSR.textops.starts_with('abc', 'abcd')",
        "KSR.textops.ends_with('abcdef', 'def')",
        "KSR.textops.cmp_str('a', 'b')", "KSR.textops.cmp_str('a', 'a')",
        "KSR.textops.cmp_str('b', 'a')", "KSR.textops.cmp_istr('ABC', 'abc')",
        "KSR.textops.cmp_istr('abc', 'abd')", "KSR.textops.search_str('hello', 'l+o$')",
        "KSR.textops.str_find('hello', 'll')", "KSR.textops.str_find('hello', 'z')",
        "KSR.textops.str_ifind('HELLO', 'll')",
        "KSR.textops.remove_hf('X-Nope')", "KSR.textops.remove_hf_re('^X-Nope')",
        "KSR.textops.is_privacy('id')",
    ],
    "textwire": [
        "KSR.textops.subst('/X-E: old/X-E: new/')",
        "KSR.textops.subst_uri('/^sip:textwire@/sip:substd@/')",
        "KSR.textops.subst_user('/textwire/u2/')",
        "KSR.textops.replace('X-F: one', 'X-F: two')",
        "KSR.textops.replace_all('m[0-9]', 'mm')",
        "KSR.textops.subst_hf('X-A', '/v(a)l/V\\\\1L/', 'a')",
        "KSR.textops.subst_body('/hel+o/bye/')",
        "KSR.textops.remove_hf_re('^X-G')",
        "KSR.textops.remove_hf_exp('^X-[BC]', '^X-C')",
        "KSR.textops.search_append('^X-D: d', ';app')",
        "KSR.textops.subst('/nomatchxyz/q/')",
    ],
    "setbody": [
        "KSR.textops.set_body('newbody', 'text/x-new')",
    ],
    "replbody": [
        "KSR.textops.replace_body('o', '0')",
        "KSR.textops.replace_body_all('l', 'L')",
    ],
    "htable": [
        "KSR.htable.sht_rm('cache', 'nokey')", "KSR.htable.sht_rm('nosuchtable', 'k')",
        "KSR.htable.sht_inc('cache', 'cnt')", "KSR.htable.sht_dec('cache', 'cnt')",
        "KSR.htable.sht_get('cache', 'cnt')",
        "KSR.htable.sht_seti('cache', 'c2', 1)", "KSR.htable.sht_inc('cache', 'c2')",
        "KSR.htable.sht_dec('cache', 'c2')", "KSR.htable.sht_dec('cache', 'c2')",
        "KSR.htable.sht_dec('cache', 'c2')",
        "KSR.htable.sht_sets('cache', 's', 'str')", "KSR.htable.sht_inc('cache', 's')",
        "KSR.htable.sht_inc('counters', 'x')", "KSR.htable.sht_inc('counters', 'x')",
        "KSR.htable.sht_dec('counters', 'y')", "KSR.htable.sht_get('counters', 'nokey')",
        "KSR.htable.sht_get('counters', 'x')", "KSR.htable.sht_inc('nosuchtable', 'x')",
        "KSR.htable.sht_is_null('cache', 'c2')", "KSR.htable.sht_is_null('cache', 'nokey')",
        "KSR.htable.sht_is_null('counters', 'nokey')", "KSR.htable.sht_is_null('nosuch', 'k')",
        "KSR.htable.sht_setxi('cache', 'xi', 5, 30)", "KSR.htable.sht_get('cache', 'xi')",
        "KSR.htable.sht_setxs('cache', 'xs', 'v', 30)", "KSR.htable.sht_get('cache', 'xs')",
        "KSR.htable.sht_setex('cache', 'xs', 100)", "KSR.htable.sht_setex('cache', 'nokey', 5)",
        "KSR.htable.sht_setex('counters', 'x', 5)",
        "KSR.htable.sht_gete('cache', 'nokey')", "KSR.htable.sht_getw('cache', 'nokey')",
        "KSR.htable.sht_match_name('cache', 'sw', 'x')",
        "KSR.htable.sht_match_name('cache', 'eq', 'zz')",
        "KSR.htable.sht_match_name('cache', 're', '^c[0-9]$')",
        "KSR.htable.sht_match_name('cache', 're', '^c[[:digit:]]$')",
        "KSR.htable.sht_match_str_value('cache', 'eq', 'v')",
        "KSR.htable.sht_match_str_value('cache', 'eq', '5')",
        "KSR.htable.sht_sets('cache', 'a1', 'keep')", "KSR.htable.sht_sets('cache', 'a2', 'drop')",
        "KSR.htable.sht_sets('cache', 'b1', 'drop')",
        "KSR.htable.sht_rm_name_re('cache', '^a1$')", "KSR.htable.sht_get('cache', 'a1')",
        "KSR.htable.sht_rm_value_re('cache', '^dr')", "KSR.htable.sht_get('cache', 'a2')",
        "KSR.htable.sht_get('cache', 'b1')", "KSR.htable.sht_sets('cache', 'p1', 'x')",
        "KSR.htable.sht_rm_name('cache', 'sw', 'p')", "KSR.htable.sht_get('cache', 'p1')",
        "KSR.htable.sht_rm_name('cache', 'eq', 'p')", "KSR.htable.sht_rm_value('cache', 're', 'q')",
        "KSR.htable.sht_rm_name_re('nosuch', 'x')",
        "KSR.htable.sht_reset('counters')", "KSR.htable.sht_get('counters', 'x')",
    ],
    "siputils": [
        "KSR.siputils.is_numeric('123')", "KSR.siputils.is_numeric('12a')",
        "KSR.siputils.is_numeric('')", "KSR.siputils.is_alphanum('ab1')",
        "KSR.siputils.is_alphanum('ab-1')", "KSR.siputils.is_alphanum('')",
        "KSR.siputils.is_alphanumex('ab-1', '-')", "KSR.siputils.is_alphanumex('ab_1', '-')",
        "KSR.siputils.is_tel_number('4930123')", "KSR.siputils.is_tel_number('+4930')",
        "KSR.siputils.is_tel_number('+0493')", "KSR.siputils.is_tel_number('+')",
        "KSR.siputils.is_tel_number('49a')", "KSR.siputils.is_tel_number('')",
        "KSR.siputils.is_uri('sip:a@b')", "KSR.siputils.is_uri('nouri')",
        "KSR.siputils.is_uri('tel:+4930')",
        "KSR.siputils.cmp_uri('sip:a@b', 'sip:a@B')",
        "KSR.siputils.cmp_uri('sip:a@b:5060', 'sip:a@b')",
        "KSR.siputils.cmp_uri('sip:a@b;transport=udp', 'sip:a@b')",
        "KSR.siputils.cmp_uri('sip:a@b;x=1', 'sip:a@b')",
        "KSR.siputils.cmp_uri('sip:A@b', 'sip:a@b')",
        "KSR.siputils.cmp_uri('sip:a@b', 'bad')",
        "KSR.siputils.cmp_aor('sip:a@b:5060', 'sip:a@B')",
        "KSR.siputils.cmp_aor('sip:a@b;x=1', 'sip:a@b')",
        "KSR.siputils.cmp_aor('sip:a@b:5070', 'sip:a@b')",
        "KSR.siputils.cmp_aor('sip:a@b', 'sip:c@b')",
        "KSR.siputils.cmp_hdr_name('From', 'f')", "KSR.siputils.cmp_hdr_name('X-A', 'x-a')",
        "KSR.siputils.cmp_hdr_name('From', 'To')",
        "KSR.pv.sets('$ru', KSR.pv.get('$ru') + ';lr')",
        "KSR.siputils.uri_param('transport')", "KSR.siputils.uri_param('lr')",
        "KSR.siputils.uri_param('nope')", "KSR.siputils.uri_param_any('transport')",
        "KSR.siputils.uri_param_any('TRANSPORT')", "KSR.siputils.uri_param_any('nope')",
        "KSR.siputils.is_user('1001')",
    ],
    "siputilswire": [
        "KSR.pv.sets('$ru', KSR.pv.get('$ru') + ';lr')",
        "KSR.siputils.add_uri_param('added=1')", "KSR.siputils.add_uri_param('')",
        "KSR.siputils.uri_param_rm('lr')", "KSR.siputils.uri_param_rm('nope')",
    ],
    "registrar": [
        "KSR.registrar.registered_uri('location', 'sip:nobody@127.0.0.1')",
        "KSR.registrar.unregister('location', 'sip:nobody@127.0.0.1')",
        "KSR.registrar.unregister('location', 'nouri')",
        "KSR.registrar.unregister_ruid('location', 'sip:nobody@127.0.0.1', 'noruid')",
        "KSR.registrar.registered_uri('location', '')",
    ],
    "dialog": [
        "KSR.dialog.get_profile_size('calls', '', '$var(n)')", "KSR.pv.get('$var(n)')",
        "KSR.dialog.get_profile_size('caller', 'x', '$avp(n)')", "KSR.pv.get('$avp(n)')",
        "KSR.dialog.get_profile_size('calls', '', '$ru')",
        "KSR.dialog.get_profile_size('calls', '', '')",
        "KSR.dialog.get_profile_size_static('calls', '$var(m)')", "KSR.pv.get('$var(m)')",
        "KSR.dialog.is_in_profile('calls', '')", "KSR.dialog.is_in_profile('caller', 'x')",
        "KSR.dialog.is_in_profile_static('calls')",
        "KSR.dialog.unset_dlg_profile('caller', 'x')",
        "KSR.dialog.unset_dlg_profile_static('calls')",
        "KSR.dialog.dlg_set_timeout(10)", "KSR.dialog.dlg_bye('all')",
        "KSR.dialog.dlg_bye('caller')",
        "KSR.dialog.var_get('nov')", "KSR.dialog.var_gete('nov')", "KSR.dialog.var_getw('nov')",
        "KSR.dialog.var_is_null('nov')", "KSR.dialog.var_rm('nov')",
        "KSR.dialog.var_sets('v', 'x')", "KSR.dialog.var_get('v')",
        "KSR.dialog.var_is_null('v')",
        "KSR.dialog.set_dlg_profile_static('calls')",
        # profiles the cfg does not declare, and a with-value one given no value
        "KSR.dialog.set_dlg_profile('nosuch', 'x')", "KSR.dialog.set_dlg_profile('caller', '')",
        "KSR.dialog.is_in_profile('nosuch', '')",
        "KSR.dialog.get_profile_size('nosuch', '', '$var(z)')",
        "KSR.dialog.set_dlg_profile('calls', 'ignored')",
    ],
    "permissions": [
        "KSR.permissions.allow_address(2, '127.0.0.1', 5060)",
        "KSR.permissions.allow_address(1, '127.0.0.1', 5060)",
        "KSR.permissions.allow_address(1, '10.0.0.10', 5060)",
        "KSR.permissions.allow_address(1, '10.0.0.10', 5070)",
        "KSR.permissions.allow_address(1, 'nohost', 5060)",
        "KSR.permissions.allow_address_group('127.0.0.9', 7)",
        "KSR.permissions.allow_address_group('10.0.0.10', 5060)",
        "KSR.permissions.allow_address_group('10.0.0.10', 9)",
        "KSR.permissions.allow_address_group('192.0.2.1', 5060)",
        "KSR.permissions.allow_source_address_group()",
        "KSR.permissions.allow_source_address(2)", "KSR.permissions.allow_trusted()",
    ],
    "state": [
        "KSR.auth_db.is_subscriber('sip:1001@127.0.0.1', 'subscriber', 2)",
        "KSR.auth_db.is_subscriber('sip:1001@127.0.0.1', 'subscriber', 3)",
        "KSR.auth_db.is_subscriber('sip:1001@example.com', 'subscriber', 3)",
        "KSR.auth_db.is_subscriber('sip:1001@example.com', 'subscriber', 2)",
        "KSR.auth_db.is_subscriber('sip:nobody@127.0.0.1', 'subscriber', 2)",
        "KSR.auth_db.is_subscriber('nouri', 'subscriber', 2)",
        "KSR.dispatcher.ds_is_active(1)", "KSR.dispatcher.ds_is_active(9)",
        "KSR.dispatcher.ds_is_active_uri(1, 'sip:127.0.0.1:5063')",
        "KSR.dispatcher.ds_is_active_uri(1, 'sip:127.0.0.1:5099')",
        "KSR.dispatcher.ds_is_active_uri(9, '')",
        "KSR.dispatcher.ds_reload()", "KSR.dispatcher.ds_is_active(1)",
        "KSR.nathelper.fix_nated_contact()", "KSR.nathelper.fix_nated_contact()",
    ],
    "uacwire": [
        "KSR.uac.uac_replace_from('Alice', 'sip:alice@example.com')",
        "KSR.uac.uac_replace_to('', 'sip:bob@example.com')",
        "KSR.pv.get('$fu')",
    ],
    # sdpops: the request carries tests/ksr/test_sdpops.py's SDP (or none, or text)
    "sdpread": [
        "KSR.sdpops.sdp_content()", "KSR.sdpops.sdp_content_flags(1)",
        "KSR.sdpops.sdp_with_ice()", "KSR.sdpops.sdp_with_media('audio')",
        "KSR.sdpops.sdp_with_media('VIDEO')", "KSR.sdpops.sdp_with_media('image')",
        "KSR.sdpops.sdp_with_active_media('audio')", "KSR.sdpops.sdp_with_active_media('video')",
        "KSR.sdpops.sdp_with_codecs_by_id('0')", "KSR.sdpops.sdp_with_codecs_by_id('0,96')",
        "KSR.sdpops.sdp_with_codecs_by_id('9')", "KSR.sdpops.sdp_with_codecs_by_name('PCMU')",
        "KSR.sdpops.sdp_with_codecs_by_name('telephone-event')",
        "KSR.sdpops.sdp_with_codecs_by_name('opus')", "KSR.sdpops.sdp_with_codecs_by_name('G722')",
        "KSR.sdpops.sdp_with_transport('RTP/AVP')", "KSR.sdpops.sdp_with_transport('rtp/avp')",
        "KSR.sdpops.sdp_with_transport('RTP/SAVP')", "KSR.sdpops.sdp_with_transport_like('AVP')",
        "KSR.sdpops.sdp_with_transport_like('avp')", "KSR.sdpops.sdp_get('$avp(sdp)')",
        "len(KSR.pv.get('$avp(sdp)'))", "KSR.sdpops.sdp_get('$var(sdp)')",
        "KSR.sdpops.sdp_transport('$avp(tr)')", "KSR.pv.get('$avp(tr)')",
        "KSR.sdpops.sdp_get_line_startswith('$avp(ml)', 'm=video')", "KSR.pv.get('$avp(ml)')",
        "KSR.sdpops.sdp_get_line_startswith('$avp(ml)', 'z=')",
        "KSR.sdpops.sdp_print(1)", "KSR.sdpops.remove_codecs_by_name('nonexistent', '')",
        "KSR.sdpops.keep_codecs_by_name('opus', '')", "KSR.sdpops.remove_media('image')",
    ],
    # htable iterators over "cache" (emptied first): keys seen, removals, updates
    "htiter": [
        "KSR.htable.sht_reset('cache')",
        "[KSR.htable.sht_sets('cache', k, 'v' + k) for k in ('a1', 'a2', 'b1', 'b2', 'c1')]",
        "KSR.htable.sht_iterator_start('i1', 'cache')", "KSR.pv.get('$shtitkey(i1)')",
        "walk('i1', 'b')", "KSR.htable.sht_iterator_next('i1')",
        "KSR.htable.sht_iterator_end('i1')", "KSR.htable.sht_iterator_end('i1')",
        "sorted(k for k in ('a1', 'a2', 'b1', 'b2', 'c1') if KSR.htable.sht_get('cache', k))",
        "KSR.htable.sht_get('cache', 'a1')", "KSR.htable.sht_iterator_next('nope')",
        "KSR.htable.sht_iterator_rm('nope')", "KSR.htable.sht_iterator_sets('nope', 'x')",
        "KSR.htable.sht_iterator_start('i2', 'nosuchtable')",
        "KSR.htable.sht_iterator_start('i3', 'cache')", "KSR.htable.sht_iterator_rm('i3')",
        "KSR.htable.sht_iterator_end('i3')",
        "KSR.htable.sht_lock('cache', 'a1')", "KSR.htable.sht_unlock('cache', 'a1')",
    ],
    "sdpwire": [
        "KSR.sdpops.remove_codecs_by_name('PCMA', '')",
        "KSR.sdpops.remove_codecs_by_id('18', 'audio')",
        "KSR.sdpops.remove_line_by_prefix('a=X-', '')",
        "KSR.sdpops.remove_line_by_prefix('a=rtcp-fb', 'video')",
    ],
    "sdpkeep": ["KSR.sdpops.keep_codecs_by_name('PCMU,telephone-event', '')"],
    "sdpkeepid": ["KSR.sdpops.keep_codecs_by_id('8', 'audio')"],
    "sdpmedia": ["KSR.sdpops.remove_media('video')"],
    "sdpnone": [
        "KSR.sdpops.sdp_content()", "KSR.sdpops.sdp_content_flags(1)",
        "KSR.sdpops.sdp_with_media('audio')", "KSR.sdpops.sdp_get('$avp(s)')",
        "KSR.sdpops.sdp_transport('$avp(t)')", "KSR.sdpops.sdp_with_codecs_by_id('0')",
        "KSR.sdpops.sdp_get_line_startswith('$avp(x)', 'm=')",
        "KSR.sdpops.remove_line_by_prefix('a=', '')", "KSR.sdpops.remove_media('audio')",
        "KSR.sdpops.remove_codecs_by_id('0', '')", "KSR.sdpops.sdp_with_transport('RTP/AVP')",
    ],
}


def walk(name, drop):
    """Iterate with htable's documented loop: upper-case each value, remove the keys
    starting with ``drop`` (an inner loop, as sht_iterator_rm() moves on by itself);
    the keys seen, sorted, and the rm() answers."""
    seen, answers = [], []
    while KSR.htable.sht_iterator_next(name) > 0:
        while (KSR.pv.get("$shtitkey(" + name + ")") or "").startswith(drop):
            seen.append(KSR.pv.get("$shtitkey(" + name + ")"))
            rc = KSR.htable.sht_iterator_rm(name)
            answers.append(rc)
            if rc < 0:
                break
        key = KSR.pv.get("$shtitkey(" + name + ")")
        if key:
            seen.append(key)
            KSR.htable.sht_iterator_sets(name, KSR.pv.get("$shtitval(" + name + ")").upper())
    return sorted(seen), sorted(answers)


def mod_init():
    return Probe()


def run_group(name):
    results = []
    for expr in PROBES.get(name, []):
        try:
            results.append([expr, repr(eval(expr))])
        except BaseException as exc:  # (KSR.x.exit: a route end is an outcome too)
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
        relay = KSR.hdr.get("X-Relay")
        if relay:
            KSR.pv.sets("$du", relay)
            KSR.tm.t_relay()
            return 1
        KSR.sl.sl_send_reply(200, "Probed")
        return 1
