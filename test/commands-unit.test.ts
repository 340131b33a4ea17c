// In-process tests of the string and keyspace command handlers against the real Store, with an
// injected clock and a recording reply writer. Expected replies come from redis-server 7.0.15.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { openReplicatedStore as openStore } from '../src/storage/store.js';
import type { ReplicatedStore as Store } from '../src/storage/api.js';
import type { Op } from '../src/storage/types.js';
import type { ClientState, ServerServices } from '../src/server/command-types.js';
import { CommandTable } from '../src/server/commands/table.js';
import { stringCommands } from '../src/server/commands/strings.js';
import { genericCommands } from '../src/server/commands/generic.js';
import { EMPTY_DIGEST_HEX } from '../src/server/commands/digest.js';
import { addLongDouble, formatLongDoubleHuman, parseLongDouble } from '../src/server/commands/float80.js';
import { parseInt64, parseIntClamped, parseScanCursor } from '../src/server/commands/args.js';
import { RecordingWriter, type Recorded } from './helpers/recording-writer.js';
import { tempDir } from './helpers/procs.js';
import { rng } from './helpers/rng.js';

const SPECS = new CommandTable([stringCommands, genericCommands]);
const T0_MS = 1_700_000_000_000;

interface Kv {
  store: Store;
  writes: Op[][];
  compactions: number;
  nowMs: number;
  run(...args: Array<string | Buffer>): Recorded;
}

async function withKv(fn: (kv: Kv) => void | Promise<void>): Promise<void> {
  const dir = tempDir('kvts-cmd-');
  const kv: Kv = {
    store: undefined as unknown as Store,
    writes: [],
    compactions: 0,
    nowMs: T0_MS,
    run: (...args) => {
      const argv = args.map((a) => (typeof a === 'string' ? Buffer.from(a, 'latin1') : a));
      const spec = SPECS.get((argv[0] as Buffer).toString('latin1').toLowerCase());
      assert.ok(spec !== undefined, `no such command ${String(args[0])}`);
      const argc = argv.length;
      if (spec.arity >= 0 ? argc !== spec.arity : argc < -spec.arity) return `-ERR wrong number of arguments for '${spec.name}' command`;
      const out = new RecordingWriter();
      spec.handler({ store: kv.store, out, write: (ops) => { kv.writes.push([...ops]); kv.store.apply(ops); }, client, server }, argv);
      const replies = out.take();
      assert.equal(replies.length, 1, `one reply to ${args.join(' ')}`);
      return replies[0] as Recorded;
    },
  };
  const client: ClientState = {
    id: 1, name: '', protocol: 2, authenticated: true, libName: '', libVersion: '', addr: '127.0.0.1:1', laddr: '127.0.0.1:2',
    createdMs: T0_MS, lastCommand: '', closeAfterReply: false,
  };
  const unused = (): never => assert.fail('not used by keyspace commands');
  const server: ServerServices = {
    commands: SPECS, info: unused, configGet: unused, configSet: unused, clientList: unused, clientKill: unused, requirePass: unused, shutdown: unused,
    compact: () => { kv.compactions++; },
  };
  kv.store = await openStore({ dir, fsync: 'no', now: () => kv.nowMs });
  try {
    await fn(kv);
  } finally {
    await kv.store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const SYNTAX = '-ERR syntax error';
const NOT_INT = '-ERR value is not an integer or out of range';
const NOT_FLOAT = '-ERR value is not a valid float';

test('SET options: NX XX GET and their combinations', () => withKv((kv) => {
  assert.equal(kv.run('SET', 'a', '1'), '+OK');
  assert.equal(kv.run('SET', 'a', '2', 'NX'), null);
  assert.equal(kv.run('SET', 'a', '2', 'NX', 'GET'), '1'); // 7.0 allows NX with GET; no write
  assert.equal(kv.run('GET', 'a'), '1');
  assert.equal(kv.run('SET', 'b', '1', 'XX'), null);
  assert.equal(kv.run('SET', 'b', '1', 'XX', 'GET'), null);
  assert.equal(kv.run('EXISTS', 'b'), 0);
  assert.equal(kv.run('SET', 'a', '3', 'xx', 'get'), '1');
  assert.equal(kv.run('SET', 'a', '4', 'GET', 'GET'), '3');
  assert.equal(kv.run('SET', 'a', '5', 'nx', 'nx'), null);
  for (const bad of [['NX', 'XX'], ['XX', 'NX'], ['EX'], ['KEEPTTL', 'EX', '1'], ['EX', '10', 'PX', '20'], ['PXAT', '1', 'EXAT', '1'], ['FOO'], ['PERSIST'], ['NX\x00', 'XX']]) {
    assert.equal(kv.run('SET', 'a', 'v', ...bad), SYNTAX, bad.join(' '));
  }
  assert.equal(kv.run('SET', 'a', 'v', 'NX\x00junk'), null, 'options compare as C strings, like strcasecmp');
  const before = kv.writes.length;
  kv.run('SET', 'a', 'v', 'NX');
  assert.equal(kv.writes.length, before, 'an aborted SET does not write');
}));

test('SET expiry: EX PX EXAT PXAT KEEPTTL, errors, overflow, last-wins repeats', () => withKv((kv) => {
  assert.equal(kv.run('SET', 'a', '1', 'EX', '10'), '+OK');
  assert.equal(kv.run('PTTL', 'a'), 10_000);
  assert.equal(kv.run('SET', 'a', '1', 'EX', '10', 'EX', '20'), '+OK');
  assert.equal(kv.run('TTL', 'a'), 20);
  assert.equal(kv.run('SET', 'a', '2', 'KEEPTTL'), '+OK');
  assert.equal(kv.run('TTL', 'a'), 20);
  assert.equal(kv.run('SET', 'a', '3'), '+OK');
  assert.equal(kv.run('TTL', 'a'), -1, 'plain SET clears the TTL');
  assert.equal(kv.run('SET', 'a', '1', 'PX', '1500'), '+OK');
  assert.equal(kv.run('TTL', 'a'), 2, 'TTL rounds half up');
  assert.equal(kv.run('SET', 'a', '1', 'EXAT', String(T0_MS / 1000 + 100)), '+OK');
  assert.equal(kv.run('EXPIRETIME', 'a'), T0_MS / 1000 + 100);
  assert.equal(kv.run('SET', 'a', '1', 'PXAT', String(T0_MS + 5)), '+OK');
  assert.equal(kv.run('PEXPIRETIME', 'a'), T0_MS + 5);
  for (const [opt, v] of [['EX', '0'], ['EX', '-1'], ['PX', '0'], ['EX', '9223372036854775807'], ['PX', '9223372036854775807'], ['EXAT', '9223372036854776']]) {
    assert.equal(kv.run('SET', 'a', '1', opt as string, v as string), "-ERR invalid expire time in 'set' command", `${opt} ${v}`);
  }
  assert.equal(kv.run('SET', 'a', '1', 'EX', 'abc'), NOT_INT);
  assert.equal(kv.run('SET', 'a', '1', 'PXAT', '9223372036854775807'), '+OK', 'absolute int64 max is accepted');
  assert.equal(kv.run('SET', 'a', '1', 'EXAT', '9223372036854775'), '+OK', 'LLONG_MAX / 1000 seconds is accepted');
  assert.equal(kv.run('SETEX', 'a', '0', 'v'), "-ERR invalid expire time in 'setex' command");
  assert.equal(kv.run('PSETEX', 'a', '-3', 'v'), "-ERR invalid expire time in 'psetex' command");
  assert.equal(kv.run('SETEX', 'a', '7', 'v'), '+OK');
  assert.equal(kv.run('TTL', 'a'), 7);
  assert.equal(kv.run('SET', 'p', '1', 'PXAT', String(T0_MS - 1)), '+OK');
  assert.equal(kv.run('GET', 'p'), null, 'an absolute time in the past leaves the key logically expired');
  kv.nowMs += 7_000;
  assert.equal(kv.run('GET', 'a'), null, 'expires when the injected clock passes it');
  assert.equal(kv.run('TTL', 'a'), -2);
}));

test('SETNX GETSET GETDEL MGET MSET MSETNX and PUT; MSET is one entry', () => withKv((kv) => {
  assert.equal(kv.run('SETNX', 'a', '1'), 1);
  assert.equal(kv.run('SETNX', 'a', '2'), 0);
  assert.equal(kv.run('PUT', 'b', 'x'), '+OK');
  kv.run('EXPIRE', 'a', '100');
  assert.equal(kv.run('GETSET', 'a', 'new'), '1');
  assert.equal(kv.run('TTL', 'a'), -1, 'GETSET clears the TTL');
  assert.equal(kv.run('GETSET', 'zz', 'v'), null);
  assert.equal(kv.run('GETDEL', 'zz'), 'v');
  assert.equal(kv.run('GETDEL', 'zz'), null);
  assert.deepEqual(kv.run('MGET', 'a', 'nope', 'b'), ['new', null, 'x']);
  const n = kv.writes.length;
  assert.equal(kv.run('MSET', 'm1', '1', 'm2', '2', 'm1', '3'), '+OK');
  assert.equal(kv.writes.length, n + 1);
  assert.equal(kv.writes[n]!.length, 3);
  assert.equal(kv.run('GET', 'm1'), '3', 'later pairs win');
  assert.equal(kv.run('MSET', 'a', '1', 'b'), "-ERR wrong number of arguments for 'mset' command");
  assert.equal(kv.run('MSETNX', 'a', '1', 'b'), "-ERR wrong number of arguments for 'msetnx' command");
  assert.equal(kv.run('MSETNX', 'x1', '1', 'm1', '2'), 0);
  assert.equal(kv.run('EXISTS', 'x1'), 0);
  assert.equal(kv.run('MSETNX', 'x1', '1', 'x2', '2'), 1);
}));

test('GETEX: options, errors, PERSIST, past absolute times delete', () => withKv((kv) => {
  assert.equal(kv.run('GETEX', 'nokey', 'EX', '0'), null, 'a missing key answers nil before the expiry is checked');
  kv.run('SET', 'a', '5');
  assert.equal(kv.run('GETEX', 'a', 'EX', '0'), "-ERR invalid expire time in 'getex' command");
  assert.equal(kv.run('GETEX', 'a', 'PERSIST', 'EX', '10'), SYNTAX);
  for (const bad of [['foo'], ['EX'], ['KEEPTTL'], ['NX'], ['GET']]) assert.equal(kv.run('GETEX', 'a', ...bad), SYNTAX);
  assert.equal(kv.run('GETEX', 'a', 'PX', '2500'), '5');
  assert.equal(kv.run('PTTL', 'a'), 2500);
  const n = kv.writes.length;
  assert.equal(kv.run('GETEX', 'a'), '5');
  assert.equal(kv.writes.length, n, 'GETEX without options does not write');
  assert.equal(kv.run('GETEX', 'a', 'PERSIST', 'persist'), '5');
  assert.equal(kv.run('TTL', 'a'), -1);
  assert.equal(kv.run('GETEX', 'a', 'PERSIST'), '5');
  assert.equal(kv.writes.length, n + 1, 'PERSIST on a key without TTL does not write');
  assert.equal(kv.run('GETEX', 'a', 'EXAT', '1'), '5');
  assert.deepEqual(kv.writes[kv.writes.length - 1], [{ t: 'del', key: 'a' }]);
  assert.equal(kv.run('EXISTS', 'a'), 0);
}));

test('INCR family: int64 bounds exact, parse rules, overflow, TTL kept, logged as absolute set', () => withKv((kv) => {
  assert.equal(kv.run('INCR', 'n'), 1);
  assert.equal(kv.run('DECRBY', 'n', '3'), -2);
  assert.equal(kv.run('SET', 'n', '9223372036854775806'), '+OK');
  assert.equal(kv.run('INCR', 'n'), 9223372036854775807n);
  assert.equal(kv.run('GET', 'n'), '9223372036854775807');
  assert.equal(kv.run('INCR', 'n'), '-ERR increment or decrement would overflow');
  assert.equal(kv.run('INCRBY', 'n', '-9223372036854775807'), 0);
  assert.equal(kv.run('DECRBY', 'n', '9223372036854775807'), -9223372036854775807n);
  assert.equal(kv.run('DECR', 'n'), -9223372036854775808n);
  assert.equal(kv.run('DECR', 'n'), '-ERR increment or decrement would overflow');
  assert.equal(kv.run('DECRBY', 'n', '-9223372036854775808'), '-ERR decrement would overflow');
  assert.equal(kv.run('INCRBY', 'nokey', 'abc'), NOT_INT, 'the increment is parsed before the key is read');
  for (const bad of ['007', '-0', ' 1', '1 ', '+1', '', '9223372036854775808', '1.0', '99999999999999999999']) {
    kv.run('SET', 'b', bad);
    assert.equal(kv.run('INCR', 'b'), NOT_INT, JSON.stringify(bad));
    assert.equal(kv.run('INCRBY', 'a', bad), NOT_INT, JSON.stringify(bad));
  }
  kv.run('SET', 't', '10', 'EX', '100');
  const n = kv.writes.length;
  assert.equal(kv.run('INCR', 't'), 11);
  assert.equal(kv.run('TTL', 't'), 100);
  assert.deepEqual(kv.writes[n], [{ t: 'set', key: 't', value: Buffer.from('11'), expireAtMs: T0_MS + 100_000 }]);
}));

test('INCRBY agrees with int64 arithmetic on values and increments of every length (the short-number path and the BigInt one)', () => withKv((kv) => {
  const r = rng(11);
  const INT64_MAX = 9223372036854775807n;
  const INT64_MIN = -9223372036854775808n;
  const digits = (n: number): string => {
    let t = String(1 + r.int(9));
    for (let i = 1; i < n; i++) t += String(r.int(10));
    return t;
  };
  // Lengths around the 15-byte boundary of the number path, signs, and a few texts that are not integers.
  const randomInt = (): string => (r.next() < 0.3 ? '-' : '') + digits(1 + r.int(19));
  const texts = (): string => (r.next() < 0.05 ? ['007', '-0', '+1', '1 ', '', '0'][r.int(6)] as string : randomInt());
  for (let i = 0; i < 4000; i++) {
    const value = texts();
    const by = r.next() < 0.3 ? ['1', '-1', '0'][r.int(3)] as string : randomInt();
    kv.run('SET', 'k', value);
    const v = parseInt64(Buffer.from(value));
    const inc = parseInt64(Buffer.from(by));
    const got = kv.run('INCRBY', 'k', by);
    const what = `${JSON.stringify(value)} + ${by}`;
    if (inc === null) {
      assert.equal(got, NOT_INT, what);
      continue;
    }
    if (v === null) {
      assert.equal(got, NOT_INT, what);
      continue;
    }
    const sum = v + inc;
    if (sum > INT64_MAX || sum < INT64_MIN) {
      assert.equal(got, '-ERR increment or decrement would overflow', what);
      assert.equal(kv.run('GET', 'k'), value, `${what}: unchanged after an overflow`);
      continue;
    }
    assert.equal(got, sum >= BigInt(Number.MIN_SAFE_INTEGER) && sum <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(sum) : sum, what);
    assert.equal(kv.run('GET', 'k'), sum.toString(), what);
    assert.deepEqual(kv.writes[kv.writes.length - 1], [{ t: 'set', key: 'k', value: Buffer.from(sum.toString()), expireAtMs: 0 }], what);
  }
}));

test('INCRBYFLOAT: 80-bit long double arithmetic and Redis formatting', () => withKv((kv) => {
  const cases: Array<[string, string]> = [
    ['0.1', '0.1'], ['0.2', '0.3'], ['-0.3', '0'], ['5.0e3', '5000'], ['+1.', '5001'], ['.5', '5001.5'], ['0x10', '5017.5'],
    ['-5017.5', '0'], ['0.000003814697265625', '0.00000381469726562'], ['-0.000003814697265625', '0'],
    ['12345678901234567890.123', '12345678901234567890'],
  ];
  for (const [by, want] of cases) assert.equal(kv.run('INCRBYFLOAT', 'f', by), want, by);
  assert.equal(kv.run('INCRBYFLOAT', 'h', '0.000003814697265635'), '0.00000381469726563');
  assert.equal(kv.run('INCRBYFLOAT', 'g', '-1.5e-30'), '0');
  assert.equal(kv.run('INCRBYFLOAT', 'g2', '1e-4940'), '0', 'a subnormal long double is accepted');
  assert.equal(kv.run('INCRBYFLOAT', 'i', '1e300'), '1000000000000000000008997324079559193870523944273290747938260082321265646596180935755849152083750497190350372508614274835903592556184672983913096260520748646287327135641843653294084255107606016789726652932370030551382947620994540294772781889620606179267611627097410650567187386105690089424915104006144');
  assert.equal(kv.run('INCRBYFLOAT', 'n', '1.7976931348623157e308'), '179769313486231569995921046774104434048386446944329178485314420765176628523124396354701868608387085564428793419425520689308708363451136055357897278026477617073498977686288394835618163294045594434929537447290627480669417384648879122776218333598953852832103282504751611691208117720159985926376802466863339536384');
  assert.equal(kv.run('INCRBYFLOAT', 'q', '0.1'), '0.1');
  assert.equal(kv.run('INCRBYFLOAT', 'q', '0.7'), '0.8');
  assert.equal(kv.run('INCRBYFLOAT', 'j', 'inf'), '-ERR increment would produce NaN or Infinity');
  kv.run('SET', 'm', '1e4930');
  assert.match(kv.run('INCRBYFLOAT', 'm', '1e4932') as string, /^1009999999999999999977056175763176913719604537836229729256964902462372390985593975701973423745990053523696807964498261083870878613067585393555270720560888920196464864830782474758414043831746279781920848460123591739569671581854677394125199791721678941116152155086211017430350645058041826512208485406662700875444326336350315917974196404892450376302540096360268777162592247493551101503847562070292197410023891520908989401488125321067468513701945039485923589551224797170538027871186494621762078848220315570316082208554884783622355932874751823011567258788347011601753406251847389911035825812341719407766632942331371420626368941934148165154052648167358476239466858410937122428657008311501235013518743541943964369736348671360676922633139224659944622403337948341915961345811729659201329796274131554459540559155575831832578130959467219177188880515964400108783799908410717223360572091747468308405341535292088263204924932425946401155638836854905080728446388448507848698105624305388113739096811076656182074998167214768994756662573650787003464867027444974659960029086537352131626161339846934603317062253166576019302169102203257549624252243076858242903918360337535716842253664645811914165220105229883156570385508148682423746667985435591450426836048047987833406181080203596586280452129882169289488501365392770261049454452907319883006672488669188768547665773932745354020778282838746937194412412383526795191571232849993230041495415704558148064817518155614748774409228038400722783352944653084518359146295109235244985110425251059816376968711997174033454921928953423587435913689828832364797395811440679826410815131127666549553507385423640574192668770939116973683556514783539697362098894969074942868597857855904239616755200576501109713299633430320321581246514734287058237644518215907860169810073343286029998289028337441605012085381214956371195032491512018418284869358538820810621562252411670175546719977976486370941489576404048409014937066158336302355997684900392468335738126642043570517666736820367424223628235871083924933383276390639773210654749828641548598160772505088800441740451088393615522998349518278625986427350318958876536231907332210739794712626873550336759629983833551204449661666626009013422271676248078347850990963011195980725051519511341626370769425759718674940997636872833930509778498181497967167000895553904354615499305566604042167239936118384587671643757655165477227846529935948493175157340169205135750465302727393584224481951736246115950462097639375118462537002610468661606616260288430990000881162617369452280046184704203624278324005526437626573050154716998921698206740860042822676168792614413151510702922326787877771952126530025826428111930607330690347502011488726309847332492604929304744639511278295439651201224687864419040425948480902027165840224642541328811062724318545144723716924440424559299828162302815981999943136577073746605353902237296865634412252032547193787667537677998417154003369651533574920976001609690565875241576655256162042812628318605154284657171031910262543782194016546083395351498704682944053994789003008804590109696865372824611728250352948185115161467878934350448633926431677742487267960441126275715629312547480121764509609401915899583375618480898194410031290493179962631282214105035186197304526133405224103632040197139208480264910041216085230774842926630100432545795525652082544488351557686832939010388416034926388845837095205372859713208499634215311334861915334759251452313560613262163009938671198901502255068931596262936909337541095163419116785715302701729418522832352741885283842814199287453894079986270477738074339701486912950974156393422565655578467370045265572390095283633964312809450178171366994177333987180176968873746692198541864303999883121603472337212791266951783361800319813753296972342527113398591005974076470965815352132996106825477656398388895226191585464384573966347052344419679878221152840984202484734395440384530307303673528144946577423143948466506914724487566501330059868041966604685174773543704840506394923851089222535782724372156056281262022912890002983014527402909678732318899367338068235665250793422430402042261416415153682250587332726442041887029547116022416235903022650393939283164692258689025672445790440656837007360020769376626950424451367348501413641021638501761508648839568104802252463425138178186813388946677532844743779914586124230648831289968286632807818674248561873464334294959328353744773848488597478623987031635581191917247680275033630728526484556520238606140285161722644089001332556859187816681013074491463276694942431191252119844619231541441776620886413174275509389496796748562670622748460051607646011754634459447283076827286534556588707235645394231555557421102033095718847401705354825828746501176800725752997931301298538403497652022356533374099343082183574379780150726217854335790244503202165072464696546671723435444295329896129232567721337250696950107345602742680194828221954254231343263083305303788632017725418132666662176047687791790311387696500224362191438453193717055488$/, '1e4930 + 1e4932 is still finite in 80 bits');
  kv.run('SET', 'm', '1e4932');
  assert.equal(kv.run('INCRBYFLOAT', 'm', '1e4932'), '-ERR increment would produce NaN or Infinity', 'overflow of the sum');
  for (const bad of ['nan', ' 1', '1 ', '1e-5000', '1e5000', 'abc', '1e', '0x', '', 'x'.repeat(5120), '1\x00']) {
    assert.equal(kv.run('INCRBYFLOAT', 'j', bad), NOT_FLOAT, JSON.stringify(bad).slice(0, 20));
  }
  kv.run('SET', 's', 'abc');
  assert.equal(kv.run('INCRBYFLOAT', 's', '1'), NOT_FLOAT);
  kv.run('SET', 't', '1.5', 'PX', '9000');
  assert.equal(kv.run('INCRBYFLOAT', 't', '1'), '2.5');
  assert.equal(kv.run('PTTL', 't'), 9000, 'INCRBYFLOAT keeps the TTL');
}));

test('float80: decimals round-trip through 0 + x, integer sums are exact', () => {
  // Below 32 the 64-bit significand's half-ulp (≤ 2^-59) is under half of the 17th decimal
  // place, so 0 + x must print x back exactly; integers below 2^63 add exactly.
  const r = rng(42);
  const zero = parseLongDouble(Buffer.from('0'));
  assert.ok(zero !== null);
  for (let i = 0; i < 2000; i++) {
    const micro = r.int(64_000_000) - 32_000_000;
    const abs = Math.abs(micro);
    const frac = String(abs % 1e6).padStart(6, '0').replace(/0+$/, '');
    const text = `${micro < 0 ? '-' : ''}${Math.floor(abs / 1e6)}${frac === '' ? '' : '.' + frac}`;
    const x = parseLongDouble(Buffer.from(text));
    assert.ok(x !== null, text);
    assert.equal(formatLongDoubleHuman(addLongDouble(zero, x)), text === '-0' ? '0' : text);
    const a = BigInt(r.int(2 ** 31)) * BigInt(r.int(2 ** 31)) - (1n << 60n);
    const b = BigInt(r.int(2 ** 31)) * BigInt(r.int(2 ** 30));
    const pa = parseLongDouble(Buffer.from(a.toString()));
    const pb = parseLongDouble(Buffer.from(b.toString()));
    assert.ok(pa !== null && pb !== null);
    assert.equal(formatLongDoubleHuman(addLongDouble(pa, pb)), (a + b).toString());
  }
});

test('APPEND STRLEN GETRANGE SUBSTR SETRANGE: ranges, limits, no-op writes', () => withKv((kv) => {
  assert.equal(kv.run('APPEND', 'e', ''), 0);
  assert.equal(kv.run('EXISTS', 'e'), 1, 'APPEND creates the key even when empty');
  assert.equal(kv.run('APPEND', 'a', 'hel'), 3);
  kv.run('EXPIRE', 'a', '50');
  assert.equal(kv.run('APPEND', 'a', 'lo'), 5);
  assert.equal(kv.run('TTL', 'a'), 50);
  const n = kv.writes.length;
  assert.equal(kv.run('APPEND', 'a', ''), 5);
  assert.equal(kv.writes.length, n);
  assert.equal(kv.run('STRLEN', 'a'), 5);
  assert.equal(kv.run('STRLEN', 'nokey'), 0);
  const ranges: Array<[string, string, string]> = [
    ['0', '-1', 'hello'], ['-1', '-5', ''], ['-100', '100', 'hello'], ['1', '2', 'el'], ['3', '1', ''], ['-2', '-1', 'lo'],
    ['9223372036854775807', '-9223372036854775808', ''], ['-9223372036854775808', '-9223372036854775807', 'h'],
    ['-9223372036854775807', '-9223372036854775808', ''], ['5', '10', ''],
  ];
  for (const [s, e, want] of ranges) assert.equal(kv.run('GETRANGE', 'a', s, e), want, `${s} ${e}`);
  assert.equal(kv.run('SUBSTR', 'a', '1', '1'), 'e');
  assert.equal(kv.run('GETRANGE', 'nokey', '0', '-1'), '');
  assert.equal(kv.run('GETRANGE', 'nokey', 'a', '0'), NOT_INT);
  assert.equal(kv.run('SETRANGE', 's', '-1', 'x'), '-ERR offset is out of range');
  assert.equal(kv.run('SETRANGE', 's', '536870911', 'xx'), '-ERR string exceeds maximum allowed size (proto-max-bulk-len)');
  assert.equal(kv.run('SETRANGE', 's', '9223372036854775808', 'x'), NOT_INT);
  assert.equal(kv.run('SETRANGE', 's', '536870911', ''), 0);
  assert.equal(kv.run('EXISTS', 's'), 0, 'an empty SETRANGE on a missing key creates nothing');
  assert.equal(kv.run('SETRANGE', 's', '3', 'ab'), 5);
  assert.equal(kv.run('GET', 's'), '\x00\x00\x00ab');
  assert.equal(kv.run('SETRANGE', 'a', '1', 'EL'), 5);
  assert.equal(kv.run('GET', 'a'), 'hELlo');
  assert.equal(kv.run('TTL', 'a'), 50, 'SETRANGE keeps the TTL');
  const m = kv.writes.length;
  assert.equal(kv.run('SETRANGE', 'a', '1', 'EL'), 5);
  assert.equal(kv.writes.length, m, 'rewriting the same bytes does not write');
}));

test('DEL UNLINK EXISTS TYPE: duplicates, one entry, no entry when nothing changes', () => withKv((kv) => {
  kv.run('MSET', 'a', '1', 'b', '2');
  assert.equal(kv.run('EXISTS', 'a', 'a', 'zz', 'b'), 3, 'EXISTS counts duplicates');
  assert.equal(kv.run('TYPE', 'a'), '+string');
  assert.equal(kv.run('TYPE', 'zz'), '+none');
  const n = kv.writes.length;
  assert.equal(kv.run('DEL', 'zz', 'yy'), 0);
  assert.equal(kv.writes.length, n);
  assert.equal(kv.run('DEL', 'a', 'a', 'zz', 'b'), 2);
  assert.deepEqual(kv.writes[n], [{ t: 'del', key: 'a' }, { t: 'del', key: 'b' }]);
  kv.run('SET', 'c', '1');
  assert.equal(kv.run('UNLINK', 'c'), 1);
  assert.equal(kv.run('DBSIZE'), 0);
}));

test('EXPIRE family: NX XX GT LT, errors, overflow, past times delete, absolute ops', () => withKv((kv) => {
  assert.equal(kv.run('EXPIRE', 'nokey', '10'), 0);
  assert.equal(kv.run('EXPIRE', 'nokey', 'abc'), NOT_INT);
  assert.equal(kv.run('EXPIRE', 'nokey', '10', 'NX', 'XX'), '-ERR NX and XX, GT or LT options at the same time are not compatible');
  assert.equal(kv.run('EXPIRE', 'nokey', '10', 'GT', 'LT'), '-ERR GT and LT options at the same time are not compatible');
  assert.equal(kv.run('EXPIRE', 'nokey', '10', 'FOO'), '-ERR Unsupported option FOO');
  kv.run('SET', 'a', '1');
  assert.equal(kv.run('EXPIRE', 'a', '10', 'XX'), 0, 'XX needs an existing TTL');
  assert.equal(kv.run('EXPIRE', 'a', '10', 'GT'), 0, 'no TTL is infinite: GT never beats it');
  assert.equal(kv.run('EXPIRE', 'a', '10', 'LT'), 1, 'and LT always does');
  assert.equal(kv.run('EXPIRE', 'a', '20', 'NX'), 0);
  assert.equal(kv.run('EXPIRE', 'a', '5', 'GT'), 0);
  assert.equal(kv.run('EXPIRE', 'a', '100', 'gt'), 1);
  assert.equal(kv.run('PEXPIRE', 'a', '100000', 'LT'), 0, 'equal is not less');
  assert.equal(kv.run('TTL', 'a'), 100);
  assert.deepEqual(kv.writes[kv.writes.length - 1], [{ t: 'expire', key: 'a', expireAtMs: T0_MS + 100_000 }]);
  assert.equal(kv.run('EXPIRE', 'a', '9223372036854775807'), "-ERR invalid expire time in 'expire' command");
  assert.equal(kv.run('EXPIRE', 'a', '-9223372036854775808'), "-ERR invalid expire time in 'expire' command");
  assert.equal(kv.run('PEXPIRE', 'a', '9223372036854775807'), "-ERR invalid expire time in 'pexpire' command");
  assert.equal(kv.run('EXPIREAT', 'a', '9223372036854775807'), "-ERR invalid expire time in 'expireat' command");
  assert.equal(kv.run('EXPIREAT', 'a', String(T0_MS / 1000 + 30)), 1);
  assert.equal(kv.run('EXPIRETIME', 'a'), T0_MS / 1000 + 30);
  assert.equal(kv.run('PEXPIRETIME', 'a'), T0_MS + 30_000);
  kv.nowMs += 500;
  assert.equal(kv.run('PTTL', 'a'), 29_500);
  assert.equal(kv.run('TTL', 'a'), 30, '29.5 s rounds to 30');
  assert.equal(kv.run('PERSIST', 'a'), 1);
  assert.equal(kv.run('PERSIST', 'a'), 0);
  assert.equal(kv.run('EXPIRETIME', 'a'), -1);
  assert.equal(kv.run('EXPIRETIME', 'nokey'), -2);
  assert.equal(kv.run('PEXPIREAT', 'a', '-9223372036854775808'), 1);
  assert.deepEqual(kv.writes[kv.writes.length - 1], [{ t: 'del', key: 'a' }], 'a past time is logged as a delete');
  assert.equal(kv.run('EXISTS', 'a'), 0);
  kv.run('SET', 'b', '1');
  assert.equal(kv.run('EXPIRE', 'b', '0'), 1);
  assert.equal(kv.run('EXISTS', 'b'), 0);
  kv.run('SET', 'c', '1', 'PX', '2000');
  const n = kv.writes.length;
  assert.equal(kv.run('PEXPIREAT', 'c', String(kv.nowMs + 2000)), 1);
  // Redis propagates it and announces 'expire' even when the time is unchanged: one entry.
  assert.equal(kv.writes.length, n + 1, 'setting the same expiry is still one logged write');
}));

test('RENAME RENAMENX: expiry moves, one entry, same key, missing key', () => withKv((kv) => {
  assert.equal(kv.run('RENAME', 'nokey', 'x'), '-ERR no such key');
  assert.equal(kv.run('RENAMENX', 'nokey', 'nokey'), '-ERR no such key');
  kv.run('SET', 'a', 'v', 'EX', '40');
  const n = kv.writes.length;
  assert.equal(kv.run('RENAME', 'a', 'a'), '+OK');
  assert.equal(kv.run('RENAMENX', 'a', 'a'), 0);
  assert.equal(kv.writes.length, n, 'renaming a key to itself does not write');
  assert.equal(kv.run('RENAME', 'a', 'b'), '+OK');
  assert.deepEqual(kv.writes[n], [{ t: 'del', key: 'a' }, { t: 'set', key: 'b', value: Buffer.from('v'), expireAtMs: T0_MS + 40_000 }]);
  assert.equal(kv.run('TTL', 'b'), 40);
  kv.run('SET', 'c', 'other');
  assert.equal(kv.run('RENAMENX', 'b', 'c'), 0);
  assert.equal(kv.run('RENAMENX', 'b', 'd'), 1);
  assert.deepEqual(kv.run('MGET', 'b', 'c', 'd'), [null, 'other', 'v']);
  assert.equal(kv.run('RENAME', 'd', 'c'), '+OK');
  assert.equal(kv.run('GET', 'c'), 'v');
}));

test('KEYS and SCAN: globs, SCAN to completion, options and errors', () => withKv((kv) => {
  const keys = ['k0', 'k1', 'k2', 'key', 'num', 'a*b', 'a\\b', 'b\x00\xff'];
  for (const k of keys) kv.run('SET', k, '1');
  kv.run('SET', 'gone', '1', 'PXAT', String(T0_MS - 1));
  const sorted = (v: Recorded): string[] => [...(v as string[])].sort();
  assert.deepEqual(sorted(kv.run('KEYS', '*')), [...keys].sort(), 'expired keys are not listed');
  assert.deepEqual(sorted(kv.run('KEYS', 'k?')), ['k0', 'k1', 'k2']);
  assert.deepEqual(sorted(kv.run('KEYS', 'k[^0-1]*')), ['k2', 'key']);
  assert.deepEqual(sorted(kv.run('KEYS', 'a\\*b')), ['a*b']);
  assert.deepEqual(sorted(kv.run('KEYS', 'b\x00*')), ['b\x00\xff']);
  const scanAll = (...opts: string[]): string[] => {
    const seen = new Set<string>();
    let cursor = '0';
    for (let i = 0; i < 1000; i++) {
      const r = kv.run('SCAN', cursor, ...opts) as [string, string[]];
      for (const k of r[1]) seen.add(k);
      cursor = r[0];
      if (cursor === '0') return [...seen].sort();
    }
    assert.fail('SCAN did not finish');
  };
  assert.deepEqual(scanAll('COUNT', '1'), [...keys].sort());
  assert.deepEqual(scanAll('MATCH', 'k*', 'COUNT', '2'), ['k0', 'k1', 'k2', 'key']);
  assert.deepEqual(scanAll('TYPE', 'STRING'), [...keys].sort());
  assert.deepEqual(scanAll('TYPE', 'list'), []);
  assert.equal(kv.run('SCAN', 'abc'), '-ERR invalid cursor');
  assert.equal(kv.run('SCAN', ' 1'), '-ERR invalid cursor');
  assert.equal(kv.run('SCAN', '18446744073709551616'), '-ERR invalid cursor');
  assert.equal(kv.run('SCAN', '0', 'COUNT', '0'), SYNTAX);
  assert.equal(kv.run('SCAN', '0', 'COUNT', 'x'), NOT_INT);
  assert.equal(kv.run('SCAN', '0', 'MATCH'), SYNTAX);
  assert.equal(kv.run('SCAN', '0', 'FOO', 'bar'), SYNTAX);
  assert.equal(parseScanCursor(Buffer.from('+7')), '7');
  assert.equal(parseScanCursor(Buffer.from('-1')), '18446744073709551615', 'strtoul wraps negatives');
  assert.equal(parseScanCursor(Buffer.from('')), '0');
}));

test('DEBUG DIGEST: zeros when empty, order-independent, sensitive to values and expiries', async () => {
  let d1 = '';
  await withKv((kv) => {
    assert.equal(kv.run('DEBUG', 'DIGEST'), EMPTY_DIGEST_HEX);
    kv.run('SET', 'a', '1');
    kv.run('SET', 'b', '2', 'PXAT', String(T0_MS + 1000));
    kv.run('SET', 'gone', '3', 'PXAT', String(T0_MS - 1));
    d1 = kv.run('DEBUG', 'digest') as string;
    assert.match(d1, /^[0-9a-f]{40}$/);
    assert.notEqual(d1, EMPTY_DIGEST_HEX);
    assert.deepEqual(kv.run('DEBUG', 'DIGEST-VALUE', 'a', 'nokey'), [createHash('sha1').update('1').digest('hex'), EMPTY_DIGEST_HEX]);
    assert.equal(kv.run('DEBUG', 'SLEEP', '0'), '+OK');
    assert.equal(kv.run('DEBUG', 'foo'), "-ERR unknown subcommand or wrong number of arguments for 'foo'. Try DEBUG HELP.");
    assert.equal(kv.run('DEBUG', 'DIGEST', 'x'), "-ERR unknown subcommand or wrong number of arguments for 'DIGEST'. Try DEBUG HELP.");
  });
  await withKv((kv) => {
    kv.run('SET', 'b', '2', 'PXAT', String(T0_MS + 1000));
    kv.run('SET', 'a', '1');
    assert.equal(kv.run('DEBUG', 'DIGEST'), d1, 'same data in another order, without the expired key');
    kv.run('PEXPIREAT', 'b', String(T0_MS + 1001));
    assert.notEqual(kv.run('DEBUG', 'DIGEST'), d1, 'the expiry is part of the digest');
    kv.run('PEXPIREAT', 'b', String(T0_MS + 1000));
    assert.equal(kv.run('DEBUG', 'DIGEST'), d1);
    kv.run('SET', 'a', '2');
    assert.notEqual(kv.run('DEBUG', 'DIGEST'), d1);
  });
});

test('FLUSHALL DBSIZE and compaction commands', () => withKv((kv) => {
  assert.equal(kv.run('FLUSHALL'), '+OK');
  assert.equal(kv.writes.length, 0, 'flushing an empty store does not write');
  kv.run('MSET', 'a', '1', 'b', '2');
  assert.equal(kv.run('DBSIZE'), 2);
  assert.equal(kv.run('FLUSHALL', 'bogus'), SYNTAX);
  assert.equal(kv.run('FLUSHALL', 'sync', 'x'), SYNTAX);
  assert.equal(kv.run('FLUSHALL', 'ASYNC'), '+OK');
  assert.equal(kv.run('DBSIZE'), 0);
  for (const c of ['COMPACT', 'BGREWRITEAOF', 'CLEANUP']) assert.equal(kv.run(c), '+Background append only file rewriting started');
  assert.equal(kv.compactions, 3);
}));

test('parseIntClamped (a number fast path for short text) agrees with parseInt64 clamped to ±2^53', () => {
  const r = rng(7);
  const alphabet = '0123456789-+ .a';
  const lim = BigInt(Number.MAX_SAFE_INTEGER);
  const check = (s: string): void => {
    const big = parseInt64(Buffer.from(s));
    const want = big === null ? null : Number(big > lim ? lim : big < -lim ? -lim : big);
    assert.equal(parseIntClamped(Buffer.from(s)), want, JSON.stringify(s));
  };
  for (const s of ['0', '-0', '00', '-', '', '9', '-9', '999999999999999', '-999999999999999', '9999999999999999', '-9999999999999999', '10000000000000000', '9223372036854775807']) check(s);
  for (let i = 0; i < 20_000; i++) {
    const len = r.int(19);
    let s = '';
    // Mostly digits (after an optional sign), so most inputs are valid integers of every length.
    for (let j = 0; j < len; j++) s += r.next() < 0.9 ? alphabet[r.int(10)] : alphabet[10 + r.int(5)];
    check(s);
  }
});

test('parseInt64 follows string2ll exactly', () => {
  const ok: Array<[string, bigint]> = [['0', 0n], ['-1', -1n], ['9223372036854775807', 9223372036854775807n], ['-9223372036854775808', -9223372036854775808n]];
  for (const [s, v] of ok) assert.equal(parseInt64(Buffer.from(s)), v, s);
  for (const s of ['', '-', '-0', '00', '01', '+1', ' 1', '1 ', '1a', '9223372036854775808', '-9223372036854775809', '1.0', '0x1']) {
    assert.equal(parseInt64(Buffer.from(s)), null, JSON.stringify(s));
  }
});
