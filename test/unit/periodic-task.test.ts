/**
 * PeriodicTask: runs never overlap, a failed run is reported and the next one still comes, stop()
 * aborts the signal (with its reason) and waits for the run in progress, a restart gets a fresh signal.
 */
import t from 'tap';
import { PeriodicTask, PollingService } from '../../src/lib/periodic-task.js';

// The task's timers are unref'd: something must keep the test process alive while it waits.
const keepAlive = setInterval(() => {}, 60_000);
t.teardown(() => clearInterval(keepAlive));

const deferred = () => {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => { resolve = r; });
  return { promise, resolve };
};

t.test('runs one at a time; a failure is reported and the next run comes', async (t) => {
  let active = 0;
  let maxActive = 0;
  let runs = 0;
  const errors: string[] = [];
  const third = deferred();
  const task = new PeriodicTask({
    intervalMs: 1, firstDelayMs: 0,
    run: async () => {
      active++;
      maxActive = Math.max(maxActive, active);
      runs++;
      await new Promise((r) => setImmediate(r));
      active--;
      if (runs === 1) throw new Error('first run fails');
      if (runs === 3) third.resolve();
    },
    onError: (err) => errors.push(err.message),
  });
  task.start();
  task.start(); // a second start changes nothing
  await third.promise;
  await task.stop();
  t.equal(maxActive, 1, 'never two runs at once');
  t.same(errors, ['first run fails']);
  t.ok(runs >= 3);
});

t.test('stop aborts the signal, waits for the run in progress; a restart has a fresh signal', async (t) => {
  const started = deferred();
  const release = deferred();
  let finished = false;
  let seenSignal: AbortSignal | undefined;
  const task = new PeriodicTask({
    intervalMs: 60_000, firstDelayMs: 0,
    run: async () => {
      seenSignal = task.signal;
      started.resolve();
      await release.promise;
      finished = true;
    },
    onError: () => {},
  });
  t.notOk(task.signal.aborted, 'not aborted before start');
  task.start();
  await started.promise;
  const reason = new Error('shutting down');
  const stopping = task.stop(reason);
  t.ok(seenSignal!.aborted, 'the run sees the abort at once');
  t.equal(seenSignal!.reason, reason, 'with the reason given');
  t.notOk(finished, 'stop has not returned before the run ended');
  release.resolve();
  await stopping;
  t.ok(finished, 'stop waited for the run');

  task.start();
  t.notOk(task.signal.aborted, 'started again: a fresh signal');
  await task.stop();
  t.ok(task.signal.aborted);
});

t.test('a polling service: a failed pass is a warning with its message; stop aborts what it passes on', async (t) => {
  const warned = deferred();
  const warnings: Array<[object, string]> = [];
  class Failing extends PollingService {
    seen: AbortSignal | undefined;
    protected async poll() {
      this.seen = this.signal;
      throw new Error('nothing to read');
    }
  }
  const service = new Failing({
    intervalMs: 60_000, firstDelayMs: 0, failure: 'the pass failed',
    log: { warn: (obj, msg) => { warnings.push([obj, msg]); warned.resolve(); } },
  });
  service.start();
  await warned.promise;
  t.same(warnings, [[{ err: 'nothing to read' }, 'the pass failed']]);
  await service.stop('done');
  t.equal(service.seen?.aborted, true);
  t.equal(service.seen?.reason, 'done');
});
