// `irface export <file>` / `irface import <file>`: the whole gallery as gzipped JSON lines, for backup and moves.
import { createWriteStream, createReadStream } from 'node:fs';
import { createGzip, createGunzip } from 'node:zlib';
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import { withGallery } from './context.ts';
import { progress } from './progress.ts';
import { f32ToB64, b64ToF32 } from './codec.ts';

const FORMAT = 'irface.gallery-export/1';

interface Header { format: string; model: string; dim: number; identities: number; faces: number; exported_at: string }
interface IdentityLine {
  id: string; name: string; external_id: string | null; metadata: Record<string, unknown> | null; created_at: string;
  faces: { embedding: string; det_score: number; box: { x: number; y: number; width: number; height: number }; image_sha256: string; crop: string | null }[];
}

export async function exportCommand(file: string) {
  return withGallery('irface export', async ({ gallery }) => {
    const stats = await gallery.stats();
    const gz = createGzip();
    const done = once(gz.pipe(createWriteStream(file)), 'finish');
    const write = async (obj: unknown) => {
      if (!gz.write(JSON.stringify(obj) + '\n')) await once(gz, 'drain');
    };
    await write({ format: FORMAT, model: stats.modelId, dim: stats.dim, identities: stats.identities, faces: stats.faces, exported_at: new Date().toISOString() } satisfies Header);
    const tick = progress('export', stats.identities);
    let faces = 0;
    for (let cursor: string | null = null; ;) {
      const page = await gallery.listIdentities({ limit: 500, cursor });
      for (const item of page.items) {
        const snap = await gallery.snapshotIdentity(item.id);
        faces += snap.faces.length;
        await write({
          id: snap.identity.id, name: snap.identity.name, external_id: snap.identity.externalId, metadata: snap.identity.metadata,
          created_at: snap.identity.createdAt,
          faces: snap.faces.map((f) => ({
            embedding: f32ToB64(f.embedding), det_score: f.face.detScore, box: f.face.box, image_sha256: f.face.imageSha256,
            crop: f.crop ? f.crop.toString('base64') : null,
          })),
        } satisfies IdentityLine);
        tick();
      }
      if (!page.nextCursor) break;
      cursor = page.nextCursor;
    }
    gz.end();
    await done;
    return { file, model: stats.modelId, identities: stats.identities, faces };
  });
}

/** Restores identities with their ids; identities already present (same id) are skipped, so it resumes. */
export async function importCommand(file: string) {
  return withGallery('irface import', async ({ gallery, runtime }) => {
    const lines = createInterface({ input: createReadStream(file).pipe(createGunzip()), crlfDelay: Infinity });
    let header: Header | null = null;
    const out = { identities: 0, skipped: 0, faces: 0 };
    for await (const line of lines) {
      if (!line) continue;
      if (!header) {
        header = JSON.parse(line) as Header;
        if (header.format !== FORMAT) throw new Error(`${file} is not an irface export (format ${JSON.stringify(header.format)})`);
        if (header.model !== runtime.model.card.id) {
          throw new Error(`${file} holds embeddings of model "${header.model}" but the server runs "${runtime.model.card.id}"; ` +
            'import with that model, then run irface reindex');
        }
        continue;
      }
      const rec = JSON.parse(line) as IdentityLine;
      const exists = await gallery.getIdentity(rec.id).then(() => true, () => false);
      if (exists) { out.skipped++; continue; }
      await gallery.createIdentity({ id: rec.id, name: rec.name, externalId: rec.external_id, metadata: rec.metadata, createdAt: rec.created_at });
      if (rec.faces.length > 0) {
        await gallery.addFaces(rec.id, rec.faces.map((f) => ({
          embedding: b64ToF32(f.embedding), detScore: f.det_score, box: f.box, imageSha256: f.image_sha256,
          crop: f.crop ? Buffer.from(f.crop, 'base64') : null,
        })));
      }
      out.identities++;
      out.faces += rec.faces.length;
    }
    if (!header) throw new Error(`${file} is empty`);
    return out;
  });
}
