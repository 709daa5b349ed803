export { startAzurite, freePort, type Azurite } from '../../sim/azurite';
