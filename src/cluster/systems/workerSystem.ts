import { CatapultError } from '../../errors/index.js';
import { tables } from '../../store/index.js';
import { type ClusterState, displayState } from '../state.js';
import type { ClusterTables } from '../tables.js';
import type { Worker } from '../types.js';
import type { ReconcileSystem } from './reconcileSystem.js';
import type { StatusSystem } from './statusSystem.js';

/** An operator's actions on workers: cordon, uncordon, drain and remove. */
export class WorkerSystem {
  constructor(
    private readonly s: ClusterState,
    private readonly reconciler: ReconcileSystem,
    private readonly status: StatusSystem,
  ) {}

  /** Stops new placements on a worker; what runs there stays. */
  cordon(idOrName: string): Promise<Worker> {
    return this.setFlags(idOrName, { cordoned: true }, 'worker.cordoned');
  }

  /** Makes a worker schedulable again, ending a drain. */
  uncordon(idOrName: string): Promise<Worker> {
    return this.setFlags(idOrName, { cordoned: false, draining: false }, 'worker.uncordoned');
  }

  /**
   * Cordons a worker and moves its replicas elsewhere. A replica that fits nowhere else stays where it
   * runs (with the reason recorded) and is retried as capacity appears: a drain never strands one.
   */
  async drain(idOrName: string): Promise<Worker> {
    const worker = await this.setFlags(idOrName, { cordoned: true, draining: true }, 'worker.draining');
    await this.s.mutex.run(() => this.reconciler.moveOff(worker.id, 'drain'));
    return this.status.getWorker(worker.id);
  }

  /**
   * Forgets a worker and revokes its credential. A live worker that still runs replicas is refused
   * unless `force`, which moves them elsewhere at once.
   */
  async removeWorker(idOrName: string, opts: { force?: boolean } = {}): Promise<Worker> {
    const entry = this.s.workerEntry(idOrName);
    return this.s.mutex.run(async () => {
      const id = entry.rec.id;
      const view = this.status.toWorker(entry);
      const running = this.s.assignmentsOn(id).filter((a) => a.desired === 'run').length;
      if (entry.rec.liveness !== 'offline' && running > 0 && !opts.force) {
        throw new CatapultError(
          'CATAPULT_WORKER_BUSY',
          `Worker ${entry.rec.name} is ${displayState(entry.rec)} and runs ${running} replica${running === 1 ? '' : 's'}; drain it first or remove it with force.`,
          { id, replicas: running },
        );
      }
      await this.reconciler.moveOff(id, 'removed', { removeWorker: true });
      return { ...view, replicas: { total: 0, byState: {} } };
    });
  }

  private async setFlags(idOrName: string, flags: { cordoned?: boolean; draining?: boolean }, type: string): Promise<Worker> {
    const entry = this.s.workerEntry(idOrName);
    return this.s.mutex.run(async () => {
      const next = { ...entry.rec, ...flags };
      if (next.cordoned === entry.rec.cordoned && next.draining === entry.rec.draining) return this.status.toWorker(entry);
      await this.s.res.store.write(async (trx) => {
        await tables<ClusterTables>(trx)
          .updateTable('workers')
          .set({ cordoned: next.cordoned ? 1 : 0, draining: next.draining ? 1 : 0 })
          .where('id', '=', next.id)
          .execute();
        await this.s.append(trx, { type, subject: { kind: 'worker', id: next.id }, data: { name: next.name } });
      });
      this.s.res.events.kick();
      entry.rec = next;
      if (!next.cordoned) this.s.capacityChanged = true;
      return this.status.toWorker(entry);
    });
  }

}
