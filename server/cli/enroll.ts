// `irface enroll <folder>`: a folder per person; resumable (already enrolled images are skipped).
import { readdirSync, statSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import { withGallery } from './context.ts';
import { progress } from './progress.ts';
import type { MultiFacePolicy } from '../services/recognition.ts';
import { isGalleryError } from '../../gallery/errors.ts';

const IMAGE = /\.(jpe?g|png|webp|gif)$/i;

export interface EnrollSummary {
  people: number;
  created: number;
  images: number;
  added: number;
  skipped: number;
  failures: Record<string, number>;
  /** Added faces that look like another enrolled person (same warning as the HTTP API). */
  possibleDuplicates: number;
}

export async function enrollCommand(folder: string, policy: MultiFacePolicy): Promise<EnrollSummary> {
  const root = resolve(folder);
  const people = readdirSync(root).filter((d) => statSync(join(root, d)).isDirectory()).sort();
  const total = people.reduce((n, p) => n + readdirSync(join(root, p)).filter((f) => IMAGE.test(f)).length, 0);
  return withGallery('irface enroll', async ({ gallery, recognition, thresholds }) => {
    const threshold = thresholds['far_1e-3'] ?? thresholds.default;
    const s: EnrollSummary = { people: people.length, created: 0, images: total, added: 0, skipped: 0, failures: {}, possibleDuplicates: 0 };
    const tick = progress('enroll', total);
    for (const person of people) {
      // The folder name is the external id, which is what makes a rerun find the same identity.
      let identity = await gallery.getIdentityByExternalId(person).catch((e) => {
        if (isGalleryError(e, 'identity_not_found')) return null;
        throw e;
      });
      if (!identity) {
        identity = await gallery.createIdentity({ name: person.replace(/_/g, ' '), externalId: person });
        s.created++;
      }
      const known = new Set((await gallery.listFaces(identity.id)).map((f) => f.imageSha256));
      const files = readdirSync(join(root, person)).filter((f) => IMAGE.test(f)).sort();
      const fresh: Buffer[] = [];
      for (const f of files) {
        const bytes = readFileSync(join(root, person, f));
        if (known.has(createHash('sha256').update(bytes).digest('hex'))) s.skipped++;
        else fresh.push(bytes);
      }
      tick(files.length - fresh.length);
      for (let i = 0; i < fresh.length; i += 8) {
        const chunk = fresh.slice(i, i + 8);
        const out = await recognition.enroll(identity.id, chunk, policy, threshold);
        for (const r of out.results) {
          if (r.status === 'added') s.added++;
          else s.failures[r.error!.code] = (s.failures[r.error!.code] ?? 0) + 1;
          if (r.possible_duplicate_of) s.possibleDuplicates++;
        }
        tick(chunk.length);
      }
    }
    return s;
  });
}
