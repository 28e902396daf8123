// Mac OS Roman for the test client: the daemon's own table (daemon/macroman.ts), so the
// client encodes exactly what the daemon decodes.
export { encodeMacRoman, decodeMacRoman } from '../../daemon/macroman';
