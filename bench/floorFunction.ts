import { httpFunction, onAppStart } from '../shared/functions/registry';
import { floorSettings, startFloorWork, type FloorWork } from './floorWork';

/**
 * The floor's work (floorWork.ts) as an HTTP function, served by the local host exactly as the
 * bot's POST /api/calls is: an HttpRequest and an InvocationContext per notification, the body
 * read through the request. The bench's third target, with --functions-floor: what the
 * Functions programming model alone adds to the floor.
 */

let work: FloorWork | null = null;

onAppStart(async () => {
  work = await startFloorWork(floorSettings());
});

httpFunction('calls', {
  methods: ['POST'],
  authLevel: 'anonymous',
  route: 'calls',
  handler: async (request) => ({
    status: await work!.handle(request.headers.get('authorization'), () => request.text()),
  }),
});
