// Stryker config of the iova-bitmap area of impl/ (stryker/areas.mjs, stryker/base.mjs): npm run mutation -- iova-bitmap
import { areaConfig } from './base.mjs';

export default areaConfig('iova-bitmap');
