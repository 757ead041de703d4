/**
 * `$dlg(name)` (Kamailio dialog dlg_var.c pv_get_dlg): the attributes of the current dialog, as
 * text (Dialog.field). Unknown names are null (the import answers -1).
 */
import type { Dialog } from './dialog.js';

export function dlgField(d: Dialog, name: string, nowMs: number): string | null {
  return d.field(name, nowMs);
}
