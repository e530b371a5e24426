// Stryker config of the smmu-driver area of impl/ (stryker/areas.mjs, stryker/base.mjs): npm run mutation -- smmu-driver
import { areaConfig } from './base.mjs';

export default areaConfig('smmu-driver');
