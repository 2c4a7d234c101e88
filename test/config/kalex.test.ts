import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Diagnostic } from '../../src/config/desired.ts';
import { lexKeepalived, quotedEscaped } from '../../src/config/kalex.ts';
import { parseKeepalived } from '../../src/config/keepalived.ts';
import { memorySource } from '../../src/config/source.ts';

const MAIN = '/etc/keepalived/keepalived.conf';
const lines = (text: string, files: Record<string, string> = {}, configId = 'lb1') => {
  const diags: Diagnostic[] = [];
  const r = lexKeepalived(MAIN, memorySource({ [MAIN]: text, ...files }), diags, { configId });
  return { lines: r.lines.map((l) => l.toks.map((t) => t.text).join('|')), diags: diags.map((d) => d.message) };
};

// Each case: the text, and the lines keepalived 2.2.7's read_line/alloc_strvec give (words joined
// by '|'), as checked against keepalived -t (test/config/differential runs the real one).
const CASES: { name: string; text: string; want: string[]; files?: Record<string, string>; says?: RegExp }[] = [
  { name: 'a one-line block is split at each brace', text: 'authentication { auth_type PASS auth_pass s3cret }\n', want: ['authentication', '{', 'auth_type|PASS|auth_pass|s3cret', '}'] },
  { name: 'braces glued to words', text: 'virtual_ipaddress{10.0.0.1}\n', want: ['virtual_ipaddress', '{', '10.0.0.1', '}'] },
  { name: 'a brace in quotes does not split', text: 'notify "/bin/echo {x}"\n', want: ['notify|/bin/echo {x}'] },
  { name: '# and ! start a comment anywhere outside quotes', text: 'router_id lb#1\nsmtp_server 10.0.0.1!x\nnotify "/a#b"\n', want: ['router_id|lb', 'smtp_server|10.0.0.1', 'notify|/a#b'] },
  { name: '\\# and \\! are literal', text: 'router_id lb\\#1\\!\n', want: ['router_id|lb#1!'] },
  { name: 'a quote ends the word before it', text: 'a b"c d"e\n', want: ['a|b|c d|e'] },
  { name: 'blank and odd whitespace', text: '\t  global_defs\t{ \f\n\n   }  \r\n', want: ['global_defs', '{', '}'] },
  { name: '@ID keeps the line for that config id only, @^ID for the others', text: '@lb1 priority 200\n@lb2 priority 100\n@^lb1 state BACKUP\n@^lb2 state MASTER\n', want: ['priority|200', 'state|MASTER'] },
  { name: '$NAME=value and $NAME / ${NAME}', text: '$IP=10.0.0.1\n$PORT=80\nvirtual_server $IP ${PORT}\n', want: ['virtual_server|10.0.0.1|80'] },
  { name: '$NAME followed by anything but a blank , ) or the end is not replaced', text: '$IP=10.0.0.1\nx $IP/24 ${IP}/24\n', want: ['x|$IP/24|10.0.0.1/24'] },
  { name: 'no blank before = in a definition', text: '$A =1\nx $A\n', want: ['$A|=1', 'x|$A'] },
  { name: 'a name nobody defined is left as written', text: 'x $NOPE\n', want: ['x|$NOPE'] },
  { name: 'a multi-line definition gives several lines', text: '$BLOCK=real_server 10.0.0.2 80 { \\\n  weight 2 \\\n}\n\nvirtual_server 10.0.0.1 80 {\n$BLOCK\n}\n', want: ['virtual_server|10.0.0.1|80', '{', 'real_server|10.0.0.2|80', '{', 'weight|2', '}', '}'] },
  { name: 'built-ins are replaced before comments are taken off again: ${_HASH} starts one', text: 'router_id a${_BANG}b\nfoo${_HASH}bar\n', want: ['router_id|a', 'foo'] },
  { name: '~SEQ repeats a line', text: '~SEQ(N, 1, 3) real_server 10.0.0.$N 80\n', want: ['real_server|10.0.0.1|80', 'real_server|10.0.0.2|80', 'real_server|10.0.0.3|80'] },
  { name: 'include reads the files a glob matches, in place, relative to the including file', text: 'include conf.d/*.conf\nlast\n', files: { '/etc/keepalived/conf.d/b.conf': 'b\n', '/etc/keepalived/conf.d/a.conf': 'a\n' }, want: ['a', 'b', 'last'] },
  { name: 'a missing include is said, not counted', text: 'include nope.conf\nx\n', want: ['x'], says: /Config files missing 'nope.conf'/ },
  { name: 'a line over 1023 bytes is read in pieces; a comment ends only its piece', text: 'x ' + 'y'.repeat(600) + ' # ' + 'z'.repeat(418) + ' w\n', want: ['x|' + 'y'.repeat(600), 'w'] },
  { name: 'an extra } is said', text: '}\n', want: ['}'], says: /Extra '}' found/ },
  { name: 'a } never given is said', text: 'a {\n', want: ['a', '{'], says: /There are 1 missing '}'s or extra '{'s/ },
];
for (const c of CASES) {
  test(`keepalived.conf lines as keepalived reads them: ${c.name}`, () => {
    const r = lines(c.text, c.files);
    assert.deepEqual(r.lines, c.want);
    if (c.says) assert.ok(r.diags.some((d) => c.says!.test(d)), JSON.stringify(r.diags));
  });
}

test('script words as keepalived re-reads them: quotes of both kinds, escapes, an unclosed quote', () => {
  assert.deepEqual(quotedEscaped(`misc_path "/bin/chk a" 'b c' d\\ e \\x41\\101\\n`), ['misc_path', '/bin/chk a', 'b c', 'd e', 'AA\n']);
  assert.deepEqual(quotedEscaped('script "/bin/true'), { missing: '"' });
});

const ka = (text: string) => parseKeepalived(MAIN, memorySource({ [MAIN]: text }));
const INSTANCE = (auth: string) => `vrrp_instance VI_1 {\n state MASTER\n interface eth0\n virtual_router_id 51\n priority 150\n ${auth}\n virtual_ipaddress {\n  10.0.0.100/24\n }\n}\n`;

test('a one-line authentication block means no authentication, as for keepalived (a tsvs and a keepalived director agree on one master)', () => {
  const one = ka(INSTANCE('authentication { auth_type PASS auth_pass s3cret }'));
  assert.equal(one.state!.vrrp.instances[0]!.authentication, undefined);
  assert.ok(one.diagnostics.some((d) => d.message === '(VI_1) Authentication specified but no password given. Ignoring'));
  const multi = ka(INSTANCE('authentication {\n  auth_type PASS\n  auth_pass s3cret\n }'));
  assert.deepEqual(multi.state!.vrrp.instances[0]!.authentication, { auth_type: 'PASS', auth_pass: 's3cret' });
});

test('blocks as keepalived builds them: an unknown keyword\'s } closes the enclosing block', () => {
  const r = ka('vrrp_instance VI_1 {\n interface eth0\n colour {\n  red\n }\n virtual_router_id 5\n virtual_ipaddress {\n  10.0.0.1\n }\n}\n');
  // After 'colour' the '{' is unexpected, 'red' unknown, and its '}' ends vrrp_instance: the rest is top level.
  const said = r.diagnostics.map((d) => `${d.line} ${d.message}`);
  for (const m of ["3 Unknown keyword 'colour'", "3 Unexpected '{' - ignoring", "4 Unknown keyword 'red'", "6 Unknown keyword 'virtual_router_id'", "7 Unknown keyword 'virtual_ipaddress'", "10 Unknown keyword '}'"]) {
    assert.ok(said.includes(m), `${m} in ${JSON.stringify(said)}`);
  }
});
