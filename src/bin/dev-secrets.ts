/**
 * Development only: an admin token, a master key and a demo tenant's caller secret generated on
 * first run and kept in the git-ignored data folder, so restarts keep working with the same values.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface DevSecrets { adminToken: string; masterKeys: string; demoUserAuthSecret: string }

export async function loadDevSecrets(dataDir: string): Promise<DevSecrets> {
  // 0711: the embedded PostgreSQL runs as another OS user and must traverse this folder.
  await mkdir(dataDir, { recursive: true, mode: 0o711 });
  await chmod(dataDir, 0o711);
  const file = path.join(dataDir, 'dev-secrets.json');
  if (existsSync(file)) return JSON.parse(await readFile(file, 'utf8')) as DevSecrets;
  const secrets: DevSecrets = {
    adminToken: randomBytes(24).toString('base64url'),
    masterKeys: `dev1:${randomBytes(32).toString('base64')}`,
    demoUserAuthSecret: randomBytes(32).toString('base64url'),
  };
  await writeFile(file, JSON.stringify(secrets, null, 2), { mode: 0o600 });
  return secrets;
}
