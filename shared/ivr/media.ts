import { createHash } from 'node:crypto';
import type { MediaInfo, MediaPrompt } from '../graph/schemas';
import type { FlowFile } from '../flows/schema';

/** A stable resourceId per prompt URI, so Graph's pre-fetch cache is hit when the prompt is played. */
export function resourceIdFor(uri: string): string {
  let id = resourceIds.get(uri);
  if (id === undefined) {
    const h = createHash('sha256').update(uri).digest('hex');
    id =
      `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`.toUpperCase();
    // Prompts are few and answered calls many: hash each URI once (bounded, should flows churn).
    if (resourceIds.size >= 10_000) resourceIds.clear();
    resourceIds.set(uri, id);
  }
  return id;
}

const resourceIds = new Map<string, string>();

/** How many resource ids are cached now (the cache is bounded: tests check the bound). */
export function resourceIdsCached(): number {
  return resourceIds.size;
}

export function mediaInfo(flow: FlowFile, promptName: string): MediaInfo {
  const uri = flow.prompts[promptName];
  if (!uri) throw new Error(`no prompt named "${promptName}"`); // unreachable for validated flows
  return { uri, resourceId: resourceIdFor(uri) };
}

export function mediaPrompt(flow: FlowFile, promptName: string): MediaPrompt {
  return { '@odata.type': '#microsoft.graph.mediaPrompt', mediaInfo: mediaInfo(flow, promptName) };
}
