// npm run bench: every figure, one table, docs/benchmarks.md regenerated.
//   npm run bench [-- --quick] [-- --figures 1,6] [-- --help]
// Each figure also has its own script (bench/query.ts, miss.ts, pam.ts, smb.ts,
// memory.ts, startup.ts, arm.ts, directory.ts, web.ts, log.ts) that replaces only its own section of the report.
import { main } from './lib/common';
import { figure1, TITLE as T1 } from './query';
import { figure2, TITLE as T2 } from './miss';
import { figure3, TITLE as T3 } from './pam';
import { figure4, TITLE as T4 } from './smb';
import { figure5, TITLE as T5 } from './memory';
import { figure6, TITLE as T6 } from './startup';
import { figure7, TITLE as T7 } from './arm';
import { figure8, TITLE as T8 } from './directory';
import { figure9, TITLE as T9 } from './web';
import { figure10, TITLE as T10 } from './log';
import { figure11, TITLE as T11 } from './change';

void main([
  { id: '1', title: T1, run: figure1 },
  { id: '2', title: T2, run: figure2 },
  { id: '3', title: T3, run: figure3 },
  { id: '4', title: T4, run: figure4 },
  { id: '5', title: T5, run: figure5 },
  { id: '6', title: T6, run: figure6 },
  { id: '7', title: T7, run: figure7 },
  { id: '8', title: T8, run: figure8 },
  { id: '9', title: T9, run: figure9 },
  { id: '10', title: T10, run: figure10 },
  { id: '11', title: T11, run: figure11 },
], true);
