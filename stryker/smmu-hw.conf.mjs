// Stryker config of the smmu-hw area of impl/ (stryker/areas.mjs, stryker/base.mjs): npm run mutation -- smmu-hw
import { areaConfig } from './base.mjs';

export default areaConfig('smmu-hw');
