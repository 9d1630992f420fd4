// Unit tests of ui/lib/health.js: a gate's contact in words, a simulation's rows split.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { contactText, splitSimulation } from '../lib/health.js';

test('a gate contact reads as connected, last contact or none', () => {
  assert.equal(contactText({ connected: true, last_contact: 97, contact_via: 'feed' }, 100), 'connected (heartbeat 3 s ago)');
  assert.equal(contactText({ connected: false, last_contact: 0, contact_via: 'attestation' }, 300), 'last contact 5 min ago (attestation)');
  assert.equal(contactText({ connected: false, last_contact: 90, contact_via: 'feed_closed' }, 100), 'last contact 10 s ago (feed closed)');
  assert.equal(contactText({ connected: false, last_contact: null }, 100), 'no contact since the server started');
  assert.equal(contactText({}, 100), 'no contact since the server started');
});

test('a simulation splits into changed and not simulated rows', () => {
  const base = { principal: 'agent:a', action: 'mcp.call_tool', resource: 'tool:fs/write_file', note: null };
  const rows = [
    { ...base, execution: 'e1', recorded: { decision: 'allow' }, arguments: 'disclosed', changed: true,
      simulated: { decision: 'deny', reason_code: 'policy_forbid', determining: ['no-secret'] } },
    { ...base, execution: 'e2', recorded: { decision: 'allow' }, arguments: 'recorded', changed: false, simulated: { decision: 'allow' } },
    { ...base, execution: 'e3', recorded: { decision: 'allow' }, arguments: 'erased', changed: null, simulated: null,
      note: 'not simulated: the request\'s disclosure was erased' },
    { ...base, execution: 'e4', recorded: { decision: 'deny' }, arguments: 'unreadable', changed: null, simulated: null, note: null },
  ];
  const s = splitSimulation(rows);
  assert.equal(s.simulated, 2);
  assert.deepEqual(s.changed.map((c) => c.row.execution), ['e1']);
  assert.equal(s.changed[0].text, 'agent:a mcp.call_tool tool:fs/write_file: allow → deny (policy_forbid; by no-secret; arguments disclosed)');
  assert.deepEqual(s.missing.map((c) => c.row.execution), ['e3', 'e4']);
  assert.match(s.missing[0].text, /erased/);
  assert.match(s.missing[1].text, /arguments unreadable/);
  assert.deepEqual(splitSimulation([]), { changed: [], missing: [], simulated: 0 });
});
