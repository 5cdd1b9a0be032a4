// rapport-rxdb.mjs: replicate RxDB (rxdb/plugins/replication-graphql, RxDB 17)
// collections with Rapport. Copy this file into your app. docs/rxdb.md explains
// it; the server's schema.graphql ("RxDB replication") is the contract.
//
// Hand-written query builders, not RxDB's generated ones, because Rapport's
// checkpoint is the server's commit-ordered position (opaque), never a
// document timestamp, and each request names the app install (installId):
// every collection of an install replicates as its own sync device.
import { replicateGraphQL } from 'rxdb/plugins/replication-graphql';
import { defaultConflictHandler } from 'rxdb';

const str = (maxLength) => ({ type: ['string', 'null'], ...(maxLength ? { maxLength } : {}) });
const base = {
  id: { type: 'string', maxLength: 36 },
  version: { type: ['number', 'null'] },
  updatedAt: str(),
};

// The collections, their RxDB schemas and their GraphQL names. Only
// interactions are written by the app; the others are read only (no push).
export const collections = {
  interactions: {
    type: 'Interaction', writable: true,
    fields: ['id', 'patientId', 'practitionerId', 'organizationId', 'mode', 'occurredAt', 'durationMinutes',
      'participantIds', 'otherPresent', 'purpose', 'notes', 'status', 'signedAt', 'signedById',
      'amendmentReason', 'amendmentCount', 'version', 'updatedAt'],
    properties: {
      ...base, patientId: str(36), practitionerId: str(36), organizationId: str(36), mode: str(), occurredAt: str(),
      durationMinutes: { type: ['integer', 'null'] }, participantIds: { type: ['array', 'null'], items: { type: 'string' } },
      otherPresent: { type: ['array', 'null'], items: { type: 'string' } }, purpose: str(), notes: str(), status: str(),
      signedAt: str(), signedById: str(36), amendmentReason: str(), amendmentCount: { type: ['integer', 'null'] },
    },
  },
  patients: {
    type: 'Patient',
    fields: ['id', 'nhsNumber', 'givenName', 'familyName', 'birthDate', 'registeredPracticeId', 'version', 'updatedAt'],
    properties: { ...base, nhsNumber: str(), givenName: str(), familyName: str(), birthDate: str(), registeredPracticeId: str(36) },
  },
  careRelationships: {
    type: 'CareRelationship',
    fields: ['id', 'kind', 'status', 'organizationId', 'patientId', 'practitionerId', 'teamId', 'partnerOrganizationId',
      'relatedPersonName', 'periodStart', 'periodEnd', 'consent', 'patientPreference', 'version', 'updatedAt'],
    properties: {
      ...base, kind: str(), status: str(), organizationId: str(36), patientId: str(36), practitionerId: str(36), teamId: str(36),
      partnerOrganizationId: str(36), relatedPersonName: str(), periodStart: str(), periodEnd: str(), consent: str(), patientPreference: str(),
    },
  },
  practitioners: {
    type: 'Practitioner',
    fields: ['id', 'organizationId', 'givenName', 'familyName', 'profession', 'active', 'version', 'updatedAt'],
    properties: { ...base, organizationId: str(36), givenName: str(), familyName: str(), profession: str(), active: { type: ['boolean', 'null'] } },
  },
  teams: {
    type: 'Team', fields: ['id', 'organizationId', 'name', 'version', 'updatedAt'],
    properties: { ...base, organizationId: str(36), name: str() },
  },
  organizations: {
    type: 'Organization', fields: ['id', 'name', 'kind', 'odsCode', 'version', 'updatedAt'],
    properties: { ...base, name: str(), kind: str(), odsCode: str() },
  },
};

// schema returns the RxDB JSON schema of a collection.
export function schema(name) {
  return { version: 0, primaryKey: 'id', type: 'object', properties: collections[name].properties, required: ['id'] };
}

// rxdbCollections is what db.addCollections takes for all six collections.
export function rxdbCollections(options = {}) {
  return Object.fromEntries(Object.keys(collections).map((n) => [n, { schema: schema(n), ...options }]));
}

const selection = (name) => collections[name].fields.join(' ') + ' deleted';

// pullQueryBuilder returns RxDB's pull.queryBuilder for a collection.
export function pullQueryBuilder(name, installId) {
  const T = collections[name].type;
  const query = `query Pull${T}($installId: String!, $checkpoint: Rx${T}InputCheckpoint, $limit: Int!) {
  pull${T}(installId: $installId, checkpoint: $checkpoint, limit: $limit) { documents { ${selection(name)} } checkpoint { cursor } } }`;
  return (checkpoint, limit) => ({
    query, operationName: `Pull${T}`,
    variables: { installId, checkpoint: checkpoint && checkpoint.cursor ? { cursor: checkpoint.cursor } : null, limit },
  });
}

// pushQueryBuilder returns RxDB's push.queryBuilder (interactions only). Only
// the documented fields are sent: RxDB's own (_meta, _rev, …) never are.
export function pushQueryBuilder(name, installId) {
  const T = collections[name].type;
  const pick = (d) => {
    if (!d) return undefined;
    const o = { deleted: !!d.deleted };
    for (const f of collections[name].fields) if (d[f] !== undefined) o[f] = d[f];
    return o;
  };
  const query = `mutation Push${T}($installId: String!, $rows: [Rx${T}InputPushRow!]!) {
  push${T}(installId: $installId, interactionPushRow: $rows) { ${selection(name)} } }`;
  return (rows) => ({
    query, operationName: `Push${T}`,
    variables: { installId, rows: rows.map((r) => ({ assumedMasterState: pick(r.assumedMasterState), newDocumentState: pick(r.newDocumentState) })) },
  });
}

// streamQueryBuilder returns RxDB's pull.streamQueryBuilder for a collection.
export function streamQueryBuilder(name, installId) {
  const T = collections[name].type;
  const query = `subscription Stream${T}($installId: String!) { stream${T}(installId: $installId) { resync } }`;
  return () => ({ query, operationName: `Stream${T}`, variables: { installId } });
}

// responseModifier turns every stream event into RxDB's 'RESYNC' (a
// checkpoint iteration); pull answers pass unchanged.
export function responseModifier(data, origin) {
  return origin === 'stream' ? 'RESYNC' : data;
}

// replicateRapport starts replicating one RxDB collection (named as in
// `collections`) with a Rapport server. It returns RxDB's replication state.
//   http, ws: the /graphql URLs (https://…, wss://…); token: a bearer token
//   (rotate it with state.setHeaders({Authorization: 'Bearer …'}));
//   installId: a UUID the app generated once at install and kept.
export function replicateRapport({ collection, name, http, ws, token, installId, batchSize = 100, pushBatchSize = 50,
  live = true, retryTime = 5000, fetch, autoStart = true }) {
  const c = collections[name];
  if (!c) throw new Error(`unknown collection ${name}`);
  // One WebSocket per URL is shared by RxDB: give each install its own, with
  // its token in connection_init.
  const wsUrl = ws ? `${ws}${ws.includes('?') ? '&' : '?'}install=${installId}` : undefined;
  return replicateGraphQL({
    collection,
    replicationIdentifier: `rapport-${name}-${installId}-${http}`,
    url: { http, ...(wsUrl ? { ws: wsUrl } : {}) },
    headers: { Authorization: `Bearer ${token}` },
    deletedField: 'deleted',
    live, retryTime, autoStart, waitForLeadership: false,
    ...(fetch ? { fetch } : {}),
    pull: {
      queryBuilder: pullQueryBuilder(name, installId),
      streamQueryBuilder: streamQueryBuilder(name, installId),
      batchSize, // always explicit: RxDB stops on a page shorter than batchSize
      responseModifier,
      wsOptions: { connectionParams: { Authorization: `Bearer ${token}` } },
    },
    ...(c.writable ? { push: { queryBuilder: pushQueryBuilder(name, installId), batchSize: pushBatchSize } } : {}),
  });
}

// conflictHandler returns the conflict handler to give the interactions
// collection: RxDB's default rule (deep equality; the master wins), with a
// hook to tell the user. The server has already merged different fields,
// applied its policy to plain fields and kept both sides of a clinical
// collision in its conflict ledger: its master state is the answer.
export function conflictHandler(onConflict = () => {}) {
  return {
    isEqual: (a, b) => defaultConflictHandler.isEqual(a, b),
    resolve: async (input) => {
      await onConflict(input);
      return input.realMasterState;
    },
  };
}
