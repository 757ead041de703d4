/**
 * Entry of the short-lived metering process (see meterModule in metering.ts): receives one plugin
 * binary over IPC, instruments it, sends the result back and exits. The parent kills it past
 * routing.limits.metering_timeout_ms.
 */
import { isSiphonError } from '../errors/registry.js';
import { meterInProcess, type WorkerRequest } from './metering.js';

process.once('message', (msg: WorkerRequest) => {
  meterInProcess(new Uint8Array(msg.bytes), msg.where, { initialGas: msg.initialGas, tableMaxElements: msg.tableMaxElements }).then(
    (result) => process.send!({ ok: true, result }, () => process.exit(0)),
    (e: unknown) =>
      process.send!(
        { ok: false, errorName: isSiphonError(e) ? e.errorName : undefined, detail: isSiphonError(e) ? e.detail : String(e) },
        () => process.exit(0),
      ),
  );
});
