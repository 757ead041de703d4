/**
 * `$dlg(name)` (Kamailio dialog dlg_var.c pv_get_dlg): the attributes of the current dialog, as
 * text. Unknown names are null (the import answers -1).
 */
import { Leg, type Dialog } from './dialog.js';

export function dlgField(d: Dialog, name: string, nowMs: number): string | null {
  const caller = d.legs[Leg.CALLER];
  const callee = d.legs[Leg.CALLEE];
  switch (name) {
    case 'h_id':
      return String(d.hId);
    case 'h_entry':
      return String(d.hEntry);
    case 'state':
      return String(d.state);
    case 'callid':
      return d.callId;
    case 'from_uri':
      return d.fromUri;
    case 'from_tag':
      return caller.tag;
    case 'to_uri':
      return d.toUri;
    case 'to_tag':
      return callee.tag;
    case 'from_cseq':
      return caller.cseq;
    case 'to_cseq':
      return callee.cseq;
    case 'from_contact':
      return caller.contact;
    case 'to_contact':
      return callee.contact;
    case 'from_rs':
      return caller.routeSet.join(',');
    case 'to_rs':
      return callee.routeSet.join(',');
    case 'from_bsock':
      return caller.socket;
    case 'to_bsock':
      return callee.socket;
    case 'start_ts':
      return String(d.startTs);
    case 'init_ts':
      return String(d.initTs);
    case 'end_ts':
      return String(d.endTs);
    case 'lifetime':
      // Kamailio $dlg(lifetime): seconds since the 2xx (0 before it)
      return String(d.startTs === 0 ? 0 : Math.max(0, Math.floor(nowMs / 1000) - d.startTs));
    case 'timeout':
      return String(d.lifetime);
    case 'dflags':
      return String(d.dflags);
    case 'sflags':
      return String(d.sflags);
    case 'ruri':
      return d.reqUri;
    case 'ref':
      return '1';
    default:
      return null;
  }
}
