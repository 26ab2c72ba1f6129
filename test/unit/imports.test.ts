/**
 * Import building blocks without servers: NDJSON splitting across parts cut anywhere (inside a
 * line, inside a UTF-8 character), lines too long to hold, each refusal code of a line, and the
 * pacing and Retry-After reading of the CometChat client.
 */
import t from 'tap';
import { isLineError, LineSplitter, parseLine, snapshotFromStored, storedSnapshot, type SplitLine, type SplitterState } from '../../src/imports/ndjson.js';
import { RequestPacer, retryAfterMs } from '../../src/cometchat/rest-client.js';
import { seededRandom, testSeed } from '../helpers/group-model.js';

function splitInParts(bytes: Buffer, cuts: number[], maxLine?: number): SplitLine[] {
  let state: SplitterState = { tail: Buffer.alloc(0), discarding: false, lines: 0 };
  const out: SplitLine[] = [];
  const bounds = [0, ...cuts, bytes.length];
  for (let i = 0; i < bounds.length - 1; i++) {
    // A new splitter per part, as each upload part starts from the stored state.
    const splitter = new LineSplitter(state, maxLine);
    out.push(...splitter.push(bytes.subarray(bounds[i], bounds[i + 1])));
    if (i === bounds.length - 2) out.push(...splitter.finish());
    state = splitter.state;
  }
  return out;
}

t.test('lines survive parts cut anywhere, UTF-8 characters included', async (t) => {
  const seed = testSeed(t, 0x11e5);
  const rng = seededRandom(seed);
  const lines = ['{"guid":"a","members":["josé","李雷"],"asOf":"2026-01-01T00:00:00Z"}', '', '{"guid":"b","deleted":true,"asOf":"2026-01-01T00:00:00Z"}', 'not json', '{"guid":"🙂"}'];
  const file = Buffer.from(`${lines.join('\n')}\r\nlast line without newline`);
  const whole = splitInParts(file, []);
  t.equal(whole.length, lines.length + 1);
  for (let round = 0; round < 200; round++) {
    const cuts = [...new Set(Array.from({ length: 1 + Math.floor(rng() * 6) }, () => 1 + Math.floor(rng() * (file.length - 1))))].sort((a, b) => a - b);
    const parts = splitInParts(file, cuts);
    if (JSON.stringify(parts) !== JSON.stringify(whole)) {
      t.same(parts, whole, `cuts ${cuts} (seed ${seed})`);
      return;
    }
  }
  t.pass('200 random cuttings give the same lines');
  t.same(whole.map((l) => l.line), [1, 2, 3, 4, 5, 6], 'numbered as in the file');
});

t.test('a line longer than the limit is reported, not held, and the next line is intact', async (t) => {
  const file = Buffer.from(`short\n${'x'.repeat(100)}\nafter\n`);
  for (const cuts of [[], [10], [3, 50, 90, 104]]) {
    t.same(splitInParts(file, cuts, 20), [{ line: 1, text: 'short' }, { line: 2, tooLong: true }, { line: 3, text: 'after' }], `cuts ${cuts}`);
  }
  const splitter = new LineSplitter({ tail: Buffer.alloc(0), discarding: false, lines: 0 }, 20);
  [...splitter.push(Buffer.from('y'.repeat(1000)))];
  t.equal(splitter.state.tail.length, 0, 'nothing of an over-long line is kept');
  t.equal(splitter.state.discarding, true);
});

t.test('each way a line is refused has its code', async (t) => {
  const now = Date.parse('2026-06-01T00:00:00Z');
  const code = (text: string) => {
    const parsed = parseLine({ line: 7, text }, now);
    return parsed === null ? null : isLineError(parsed) ? parsed.code : 'ok';
  };
  const asOf = '"asOf":"2026-05-01T00:00:00Z"';
  t.equal(code(`{"guid":"g","members":["a"],${asOf}}`), 'ok');
  t.equal(code(`{"guid":"g","owner":"o","members":[],${asOf}}`), 'ok');
  t.equal(code(`{"guid":"g","deleted":true,${asOf}}`), 'ok');
  t.equal(code('   '), null, 'blank lines are skipped');
  t.equal(code('{"guid":'), 'IMPORT_LINE_NOT_JSON');
  t.equal(code('[1,2]'), 'IMPORT_LINE_INVALID');
  t.equal(code(`{"guid":"g","members":["a"],${asOf},"extra":1}`), 'IMPORT_LINE_INVALID');
  t.equal(code(`{"guid":"g",${asOf}}`), 'IMPORT_LINE_INVALID', 'members missing');
  t.equal(code(`{"guid":"g","deleted":true,"members":[],${asOf}}`), 'IMPORT_LINE_INVALID');
  t.equal(code(`{"guid":"g","owner":5,"members":[],${asOf}}`), 'IMPORT_LINE_INVALID');
  t.equal(code(`{"guid":"g","members":["a b"],${asOf}}`), 'SNAPSHOT_ID_INVALID');
  t.equal(code(`{"guid":"","members":[],${asOf}}`), 'SNAPSHOT_ID_INVALID');
  t.equal(code('{"guid":"g","members":[],"asOf":"May 1st"}'), 'SNAPSHOT_AS_OF_INVALID');
  t.equal(code('{"guid":"g","members":[],"asOf":"2027-01-01T00:00:00Z"}'), 'SNAPSHOT_AS_OF_IN_FUTURE');
  const tooLong = parseLine({ line: 3, tooLong: true }, now);
  t.match(tooLong, { line: 3, code: 'IMPORT_LINE_TOO_LONG' });
  const parsed = parseLine({ line: 1, text: `{"guid":"g","owner":"o","members":["a","a"],${asOf}}` }, now);
  t.same(snapshotFromStored(storedSnapshot(parsed as never)), parsed, 'a spooled snapshot reads back the same (members deduplicated)');
});

t.test('CometChat requests are paced and Retry-After is read in both forms', async (t) => {
  let now = 1_000_000;
  const pacer = new RequestPacer(600, () => now); // one request every 100 ms
  t.same([pacer.take(), pacer.take(), pacer.take()], [0, 100, 200]);
  now += 1_000;
  t.equal(pacer.take(), 0, 'idle time is not saved up beyond the next slot');
  t.equal(retryAfterMs('3'), 3_000);
  t.equal(retryAfterMs(new Date(now + 5_000).toUTCString(), now), 5_000);
  t.equal(retryAfterMs(null), null);
  t.equal(retryAfterMs('soon'), null);
});
