// The entry of the standalone proof viewer written by `writ proof viewer`: the same viewer as
// /ui/proof with nothing to fetch from (no server, no token), so it never makes a request.

import { proofViewer } from './proofview.js';

const main = document.getElementById('main');
if (main) proofViewer(main, { mode: 'standalone', signedIn: false });
