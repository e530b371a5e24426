// Stryker config of the kvm-dirty-log area of impl/ (stryker/areas.mjs, stryker/base.mjs): npm run mutation -- kvm-dirty-log
import { areaConfig } from './base.mjs';

export default areaConfig('kvm-dirty-log');
