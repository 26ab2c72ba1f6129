import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { loadEnvFileIfPresent } from '../../src/config/env-file.js';

const NAMES = ['E2EE_ENV_FILE_NEW', 'E2EE_ENV_FILE_SET', 'E2EE_ENV_FILE_EMPTY', 'E2EE_ENV_FILE_QUOTED'];

t.test('loadEnvFileIfPresent', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'e2ee-env-'));
  t.teardown(async () => {
    for (const name of NAMES) delete process.env[name];
    await rm(dir, { recursive: true, force: true });
  });
  const file = path.join(dir, '.env');
  await writeFile(file, [
    '# a comment',
    'E2EE_ENV_FILE_NEW=from-file',
    'E2EE_ENV_FILE_SET=from-file',
    'E2EE_ENV_FILE_EMPTY=from-file',
    'E2EE_ENV_FILE_QUOTED="two words"',
    '',
  ].join('\n'));
  process.env.E2EE_ENV_FILE_SET = 'from-environment';
  process.env.E2EE_ENV_FILE_EMPTY = '';

  t.equal(loadEnvFileIfPresent(file), true, 'reports the file as loaded');
  t.equal(process.env.E2EE_ENV_FILE_NEW, 'from-file', 'a variable only in the file is set');
  t.equal(process.env.E2EE_ENV_FILE_QUOTED, 'two words', 'quotes are removed');
  t.equal(process.env.E2EE_ENV_FILE_SET, 'from-environment', 'a variable already set wins over the file');
  t.equal(process.env.E2EE_ENV_FILE_EMPTY, '', 'so does one set to the empty string');

  delete process.env.E2EE_ENV_FILE_NEW;
  const before = { ...process.env };
  t.equal(loadEnvFileIfPresent(path.join(dir, 'missing.env')), false, 'no file: reports nothing loaded');
  t.same({ ...process.env }, before, 'no file: the environment is unchanged');
});
