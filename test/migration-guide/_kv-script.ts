/**
 * The kv client scripts every server of the migration must answer alike: the TypeScript steps
 * (steps.test.ts) and the Python originals (python.test.ts).
 */
import { MAX_LINE } from '../../migration-guide/examples/steps/_kv.js';
import type { TestClient } from './_support.js';

/** The commands every small client sends in one go (pipelined), for its own key prefix. */
export function commands(p: string): string {
  return [
    `SET ${p}a hello world`,
    `GET ${p}a`,
    `GET ${p}missing`,
    `INCR ${p}n`,
    `INCR ${p}n`,
    `INCR ${p}a`,
    `SET ${p}b x y\r`,
    `KEYS ${p}`,
    `DUMP ${p}`,
    `DEL ${p}a`,
    `DEL ${p}a`,
    `GET`,
    `FOO bar`,
    `GET ${p}b`,
    '',
  ].join('\n');
}

/** The correct replies to {@link commands}, then to QUIT. */
export function expected(p: string): string[] {
  return [
    'OK',
    'VALUE hello world',
    'NOT_FOUND',
    'INTEGER 1',
    'INTEGER 2',
    'ERROR not an integer',
    'OK',
    'KEYS 3',
    `${p}a`,
    `${p}b`,
    `${p}n`,
    `${p}a hello world`,
    `${p}b x y`,
    `${p}n 2`,
    'END 3',
    'DELETED',
    'NOT_FOUND',
    'ERROR wrong number of arguments',
    'ERROR unknown command',
    'VALUE x y',
    'BYE',
    '<end>',
  ];
}

export async function lines(client: TestClient, count: number, into: string[]): Promise<void> {
  for (let i = 0; i < count; i++) into.push((await client.line()) ?? '<end>');
}

/** One small client: all commands, pipelined (chunked or not), then QUIT. */
export async function smallClient(client: TestClient, p: string): Promise<string[]> {
  const transcript: string[] = [];
  await client.send(commands(p));
  await lines(client, expected(p).length - 2, transcript);
  await client.send('QUIT\n');
  transcript.push((await client.line()) ?? '<end>');
  const rest = await client.end();
  transcript.push(rest.length === 0 ? '<end>' : `<end, unexpected: ${rest.toString()}>`);
  return transcript;
}

export const LONG_TRANSCRIPT = [
  'OK',
  `VALUE ${'x'.repeat(MAX_LINE - 'SET long:a '.length)}`,
  'ERROR line too long',
  '<end>',
];

/** A client whose third line is too long: the server answers an error and closes. */
export async function tooLongClient(client: TestClient): Promise<string[]> {
  const transcript: string[] = [];
  // A line of exactly MAX_LINE bytes is fine; one byte more is not.
  const longest = `SET long:a ${'x'.repeat(MAX_LINE - 'SET long:a '.length)}`;
  await client.send(`${longest}\nGET long:a\n${longest}x\nGET long:a\n`);
  await lines(client, 3, transcript);
  const rest = await client.end();
  transcript.push(rest.length === 0 ? '<end>' : `<end, unexpected: ${rest.toString()}>`);
  return transcript;
}
