// How the benchmark report and chart write a ratio (bench/lib/chart.ts ratioText): two
// decimals, but never a value that reads as the goal itself when the verdict differs.
import t from 'tap';
import { ratioText } from '../bench/lib/chart';

t.test('two decimals, three when two would read as the goal', async (t) => {
  t.equal(ratioText(1.2345), '1.23');
  t.equal(ratioText(12.345), '12.3');
  t.equal(ratioText(1.1023, 1.1), '1.102', 'missed by 0.002: not shown as 1.10');
  t.equal(ratioText(1.0981, 1.1), '1.098', 'met by 0.002: not shown as 1.10');
  t.equal(ratioText(1.1, 1.1), '1.10', 'exactly the goal');
  t.equal(ratioText(1.13, 1.1), '1.13');
  t.equal(ratioText(Number.NaN), '—');
});
