// Stryker config of the kvm-dirty-ring area of impl/ (stryker/areas.mjs, stryker/base.mjs): npm run mutation -- kvm-dirty-ring
import { areaConfig } from './base.mjs';

export default areaConfig('kvm-dirty-ring');
