import assert from 'node:assert/strict';
import editChain, { ChainEditError } from '../../server/admin/chain-edit.ts';
import { redact } from '../../server/audit/index.ts';
import { parseChain, formatChain } from '../../server/flow/chain.ts';

const catalog = { has: (id: string) => ['password', 'totp', 'recovery'].includes(id), requiresUser: (id: string) => id !== 'password' };
const edit = (text: string, e: Parameters<typeof editChain>[1]) => formatChain(editChain(parseChain(text, catalog), e));

describe('chain editor operations', () => {
  it('adds, removes and reorders steps and alternatives', () => {
    assert.equal(edit('password', { op: 'add-step', authenticator: 'totp' }), 'password,totp');
    assert.equal(edit('password,totp', { op: 'add-option', step: 1, authenticator: 'recovery' }), 'password,totp|recovery');
    assert.equal(edit('password,totp|recovery', { op: 'move-option', step: 1, option: 1, by: -1 }), 'password,recovery|totp');
    assert.equal(edit('password,totp|recovery', { op: 'remove-option', step: 1, option: 0 }), 'password,recovery');
    assert.equal(edit('password,totp,recovery', { op: 'move-step', step: 2, by: -1 }), 'password,recovery,totp');
    assert.equal(edit('password,totp', { op: 'remove-step', step: 1 }), 'password');
    assert.equal(edit('password,totp', { op: 'remove-option', step: 1, option: 0 }), 'password', 'removing the last alternative removes the step');
  });

  it('refuses edits that point nowhere', () => {
    assert.throws(() => edit('password', { op: 'remove-step', step: 3 }), ChainEditError);
    assert.throws(() => edit('password', { op: 'move-step', step: 0, by: -1 }), ChainEditError);
    assert.throws(() => edit('password', { op: 'remove-option', step: 0, option: 5 }), ChainEditError);
  });

  it('leaves validation to parseChain: an edit that puts TOTP first is caught there', () => {
    const moved = edit('password,totp', { op: 'move-step', step: 1, by: -1 });
    assert.throws(() => parseChain(moved, catalog), /cannot be in the first step/);
  });
});

describe('audit redaction', () => {
  it('replaces secrets at any depth and keeps everything else', () => {
    const out = redact({ after: { client_secret: 's3cret', chain: 'password', user_token_ttl: 600, access_token: 'at', nested: [{ password: 'p', passwordHash: 'h', totpSecret: 't', name: 'n' }] }, secret_rotated: true });
    assert.deepEqual(out, { after: { client_secret: '[redacted]', chain: 'password', user_token_ttl: 600, access_token: '[redacted]', nested: [{ password: '[redacted]', passwordHash: '[redacted]', totpSecret: '[redacted]', name: 'n' }] }, secret_rotated: true });
  });
});
