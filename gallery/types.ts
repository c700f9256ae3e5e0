// Gallery domain types and the two storage interfaces the service is written against (GalleryStore, VectorIndex).
//
// Both interfaces are async-free where they can be (VectorIndex: an in-process structure) and async where a
// networked backend must fit (GalleryStore: a PostgreSQL store for several replicas can implement it unchanged).

import type { CenterState } from './center-math.ts';
import type { GalleryErrorCode } from './errors.ts';

export type { CenterState };

/** Client-supplied free-form attributes of an identity; a JSON object. */
export type Metadata = Record<string, unknown>;

/** Face box in pixels of the original image. */
export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface Identity {
  id: string; // public id (UUID)
  name: string;
  externalId: string | null; // client-supplied, unique when set
  metadata: Metadata | null;
  faceCount: number;
  createdAt: string; // ISO 8601
  updatedAt: string;
}

/** An identity as stored: `label` is the internal integer id, also the identity's label in the vector index. */
export interface IdentityRecord extends Identity {
  label: number;
}

export interface Face {
  id: string;
  identityId: string;
  modelId: string; // model that produced the stored embedding
  detScore: number;
  box: Box;
  imageSha256: string;
  hasCrop: boolean; // an aligned crop is kept, so a future model can re-embed this face
  createdAt: string;
}

export interface FaceRecord extends Face {
  seq: number; // insertion order; keyset for iterating all faces
  identityLabel: number;
}

/** A face to enrol, as produced by detection + alignment + embedding. */
export interface NewFace {
  embedding: Float32Array; // (dim,) raw model output; normalised by the gallery where it matters
  detScore: number;
  box: Box;
  imageSha256: string; // hex sha256 of the uploaded image bytes
  crop?: Buffer | null; // aligned crop (JPEG); keep it to allow `irface reindex` later
}

export interface NewIdentity {
  name: string;
  externalId?: string | null;
  metadata?: Metadata | null;
  /** Only for restoring an export: keep the identity's public id and creation time. */
  id?: string;
  createdAt?: string;
}

/** Per-face outcome of addFaces, in input order; one bad face does not fail the others. */
export type AddFaceResult =
  | { status: 'added'; face: Face }
  | { status: 'duplicate_image'; imageSha256: string; existingFaceId: string }
  | { status: 'rejected'; code: GalleryErrorCode; message: string };

export interface AddFacesResult {
  identity: Identity; // after the call (faceCount updated)
  results: AddFaceResult[];
}

export interface SearchHit {
  identity: Identity;
  similarity: number; // cosine between the query and the identity's center
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null; // pass back to get the next page; null on the last page
}

export interface GalleryStats {
  modelId: string;
  dim: number;
  stateVersion: number;
  identities: number;
  faces: number;
  facesWithoutCrop: number; // these cannot be re-embedded by `irface reindex`
  centers: number;
  indexed: number; // live vectors in the index; equals centers
  unsavedIndexChanges: number;
}

export interface NewFaceRecord {
  id: string;
  identityLabel: number;
  embedding: Float32Array;
  modelId: string;
  detScore: number;
  box: Box;
  imageSha256: string;
  crop: Buffer | null;
  createdAt: string;
}

export interface NewIdentityRecord {
  id: string;
  name: string;
  externalId: string | null;
  metadata: Metadata | null;
  createdAt: string;
}

/** Fields to change; `undefined` leaves a field alone, `null` clears externalId/metadata. */
export interface IdentityPatch {
  name?: string;
  externalId?: string | null;
  metadata?: Metadata | null;
}

export interface GalleryMeta {
  modelId: string | null; // null until the first open binds the gallery to a model
  dim: number | null;
  stateVersion: number; // bumped in the same transaction as every change to identities or centers
}

export interface FaceCounts {
  total: number;
  withoutCrop: number;
}

/** One transaction's (or one read's) view of the store. Only use it inside the callback that received it. */
export interface StoreTx {
  getMeta(): Promise<GalleryMeta>;
  setModel(modelId: string, dim: number): Promise<void>;
  /** Increments state_version and returns the new value. */
  bumpStateVersion(): Promise<number>;

  insertIdentity(rec: NewIdentityRecord): Promise<IdentityRecord>;
  getIdentity(id: string): Promise<IdentityRecord | null>;
  getIdentityByExternalId(externalId: string): Promise<IdentityRecord | null>;
  getIdentitiesByLabels(labels: readonly number[]): Promise<IdentityRecord[]>;
  /** Identities with label > afterLabel in label order (stable under inserts and deletes). */
  listIdentities(afterLabel: number, limit: number): Promise<IdentityRecord[]>;
  updateIdentity(label: number, patch: IdentityPatch, updatedAt: string): Promise<IdentityRecord>;
  /** Deletes the identity; its faces and center go with it (ON DELETE CASCADE). */
  deleteIdentity(label: number): Promise<boolean>;
  countIdentities(): Promise<number>;

  insertFace(rec: NewFaceRecord): Promise<FaceRecord>;
  getFace(id: string): Promise<FaceRecord | null>;
  listFaces(identityLabel: number): Promise<FaceRecord[]>;
  /** Id of a face of this identity enrolled from the same image, if any. */
  findFaceByImage(identityLabel: number, imageSha256: string): Promise<string | null>;
  faceEmbeddings(identityLabel: number): Promise<Float32Array[]>;
  getFaceCrop(id: string): Promise<Buffer | null>;
  deleteFace(id: string): Promise<boolean>;
  countFaces(): Promise<FaceCounts>;
  /** Faces with seq > afterSeq in seq order, with their crops; for re-embedding. */
  listFacesWithCrops(afterSeq: number, limit: number): Promise<Array<FaceRecord & { crop: Buffer | null }>>;
  deleteFacesWithoutCrop(): Promise<number>;

  getCenter(identityLabel: number): Promise<CenterState | null>;
  putCenter(identityLabel: number, center: CenterState): Promise<void>;
  deleteCenter(identityLabel: number): Promise<void>;
  deleteAllCenters(): Promise<void>;
  /** Centers with label > afterLabel in label order. */
  listCenters(afterLabel: number, limit: number): Promise<Array<{ label: number; center: Float32Array }>>;
  centerLabels(): Promise<number[]>;
  countCenters(): Promise<number>;
  /** Labels of identities that have at least one face (the ones whose centers must exist). */
  labelsWithFaces(): Promise<number[]>;

  /** Reindex staging: new embeddings kept aside until the switch to the new model commits. */
  stageEmbedding(faceId: string, modelId: string, embedding: Float32Array): Promise<void>;
  countStaged(modelId: string): Promise<number>;
  /** Which of faceIds already have a staged embedding for modelId (lets an interrupted reindex resume). */
  stagedFaceIds(modelId: string, faceIds: readonly string[]): Promise<Set<string>>;
  /** Copies staged embeddings of `modelId` into faces; returns how many faces were updated. */
  applyStaged(modelId: string): Promise<number>;
  clearStaging(): Promise<void>;
}

export interface GalleryStore {
  /** Runs fn in one write transaction: committed when fn resolves, rolled back when it throws. */
  transaction<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T>;
  /** Runs fn for reads; never observes another caller's uncommitted writes. */
  read<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T>;
  close(): Promise<void>;
  /** Present when other processes may write the same gallery (PostgreSQL): their center changes, in order. */
  readonly changeFeed?: ChangeFeed;
}

/** One change-log entry: the label's center changed; `center` is its current value (null: it has none now). */
export interface CenterChange {
  seq: number;
  label: number;
  center: Float32Array | null;
}

/** What a replica needs to load its saved index and replay the log after `afterSeq`, read in one snapshot. */
export interface LogSnapshot {
  head: number; // latest committed sequence
  floor: number; // oldest sequence still in the log (head + 1 when empty); earlier entries were pruned
  modelId: string | null;
  centerLabels: number[]; // labels with a center now
  changedLabels: number[]; // labels with an entry in (afterSeq, head]
}

/**
 * The change log of a shared store: every change of a center gets the next sequence number in the same
 * transaction as the change, and entries become visible in sequence order (no gaps appear later).
 */
export interface ChangeFeed {
  snapshot(afterSeq: number): Promise<LogSnapshot>;
  /** Entries with seq > afterSeq in order, each with the label's current center; at most `limit`. */
  changesSince(afterSeq: number, limit: number): Promise<{ modelId: string | null; changes: CenterChange[] }>;
  /**
   * Calls `wake` whenever changes may have been committed: on each notification and after each (re)connection
   * of the listening connection (which reconnects by itself). Returns a function that stops listening.
   */
  listen(wake: () => void, log: (msg: string, data?: Record<string, unknown>) => void): Promise<() => Promise<void>>;
}

export interface IndexHit {
  label: number;
  similarity: number; // cosine similarity in [-1, 1]
}

/** What a persisted index snapshot claims to reflect; compared with the store on open. */
export interface IndexState {
  stateVersion: number;
  modelId: string;
  dim: number;
  count: number; // live vectors
  /**
   * With a change log (PostgreSQL): the last log sequence the index reflects. A marker with one is trusted
   * whatever the store's state_version and count, since the log after it is replayed on load.
   */
  logSeq?: number;
}

export type IndexLoadOutcome = { loaded: true } | { loaded: false; reason: string };

/** Nearest-neighbour index over identity centers, keyed by identity label. */
export interface VectorIndex {
  readonly dim: number;
  /** Number of live (searchable) labels. */
  readonly size: number;
  upsert(label: number, vector: Float32Array): void;
  /** Removes a label; returns false when it was not present. Removed labels are never returned by search. */
  remove(label: number): boolean;
  has(label: number): boolean;
  /** Up to k hits, best first; k larger than size is clamped. */
  search(vector: Float32Array, k: number): IndexHit[];
  /** Drops every vector, ready to be refilled with upsert (capacityHint: the expected count). */
  clear(capacityHint: number): void;
  /** Persists the index with a marker naming the store state it reflects. */
  save(state: IndexState): void;
  /**
   * Loads the persisted index when its marker matches `state` and it holds exactly `liveLabels`. With
   * state.logSeq set, the marker must name that sequence instead of the state_version and count, and liveLabels
   * are the labels unchanged since then (the caller replays the rest).
   */
  load(state: IndexState, liveLabels: readonly number[]): IndexLoadOutcome;
  /** The log sequence named by the saved marker, or null when there is none (no file, or saved without a log). */
  savedLogSeq(): number | null;
}
