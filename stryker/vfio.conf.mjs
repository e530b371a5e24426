// Stryker config of the vfio area of impl/ (stryker/areas.mjs, stryker/base.mjs): npm run mutation -- vfio
import { areaConfig } from './base.mjs';

export default areaConfig('vfio');
