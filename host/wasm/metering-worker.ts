/**
 * Entry of the short-lived metering process (see meterModule in metering.ts): receives one plugin
 * binary over IPC, instruments it, sends the result back and exits.
 */
import { isSiphonError } from '../errors/registry.js';
import { meterInProcess } from './metering.js';

process.once('message', (msg: { bytes: Uint8Array; where: string; initialGas: number }) => {
  meterInProcess(new Uint8Array(msg.bytes), msg.where, { initialGas: msg.initialGas }).then(
    (result) => process.send!({ ok: true, result }, () => process.exit(0)),
    (e: unknown) =>
      process.send!(
        { ok: false, errorName: isSiphonError(e) ? e.errorName : undefined, detail: isSiphonError(e) ? e.detail : String(e) },
        () => process.exit(0),
      ),
  );
});
