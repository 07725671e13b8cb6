"""Answers in the form the question states: which questions list their answers (and what the answers
are), the batched scoring of whole answers against its token-by-token reference, and answering with
the likeliest listed answer."""
import random

import pytest
import torch

from model.answer_forms import TRUE_FALSE, YES_NO, question_choices, stated_answers
from model.data.wording import HELD_OUT_STYLES, LABEL_STYLES, OPTION_HEADERS, option_answer, option_block
from model.generate import answer_logits, choice_scores, choose, generate, generate_batch
from model.prompt import answer_ids, prompt_ids

OPTIONS = ["a dog barking", "rain", "a church bell", "someone speaking"]
AFTER = ["", "Answer with the letter.", "- answer with the option", "? just the letter please", "\nOnly one."]


@pytest.mark.parametrize("style", sorted(set(LABEL_STYLES) | set(HELD_OUT_STYLES)))
def test_options_in_every_style_the_generator_writes_give_the_answers_it_would_train_on(style):
    rng = random.Random(style)
    for n in (2, 3, 4):
        for after in AFTER:
            block, labels = option_block(OPTIONS[:n], style, rng, OPTION_HEADERS)
            question = f"Which of these can you hear? {block} {after}"
            want = tuple(option_answer(labels, OPTIONS[:n], i) for i in range(n)) if any(labels) else None
            assert stated_answers(question) == want


@pytest.mark.parametrize("question, answers", [
    ("Can you hear a piano? Answer yes or no.", YES_NO),
    ("is it raining (y/n)", YES_NO),
    ("yes/no: did someone knock", YES_NO),
    ("True or false: a dog barks.", TRUE_FALSE),
    ("t/f someone talks at some point", TRUE_FALSE),
    ("a bell rings. true/false?", TRUE_FALSE),
    ("which did NOT show up: (a) siren, (b) rain, or (c) a bell?", ("(a) siren", "(b) rain", "(c) a bell")),
    ("is there a dog?", None),
    ("what was that", None),
    ("did you hear Mr. A. Smith speak?", None),  # one 'label' is not a list of options
    ("was it a dog, a cat or a cow?", None),  # options without labels leave the answer free
    ("Pick one: (A) yes or no (B) a dog", ("(A) yes or no", "(B) a dog")),  # options win over their text
])
def test_only_answers_written_out_count(question, answers):
    assert stated_answers(question) == answers


def tiny_sam():
    from model.config import SAMConfig
    from model.sam import SAM
    from model.tokenizer import Tokenizer

    tok = Tokenizer.train(["yes", "no", "true", "false", "(A) a dog (B) rain", "A. B. C. D.", "a dog barks"] * 30,
                          vocab_size=300)
    torch.manual_seed(0)
    return SAM(SAMConfig.from_name("sam-tiny"), tok).eval()


def after_prompt(model, lm_state, question):
    """The state with the question's prompt pushed (the given state unchanged), and its last logits."""
    logits, state = model.lm(torch.tensor([prompt_ids(model.tokenizer, question)]), state=lm_state.fork())
    return state, logits[:, -1]


@torch.inference_mode()
def score_one_by_one(model, state, logits, ids):
    """The reference: log P of each token of `ids`, stepping one token at a time."""
    tok, total = model.tokenizer, 0.0
    for token in ids:
        total += float(torch.log_softmax(answer_logits(model.lm, tok, logits.clone()).float(), -1)[0, token])
        logits, state = model.lm.step(torch.tensor([token]), state=state)
    return total


def test_batched_choice_scores_equal_the_token_by_token_reference():
    model = tiny_sam()
    tok = model.tokenizer
    choices = [answer_ids(tok, a) for a in ("(A) a dog", "(B) rain", "yes", "no", "a dog barks")]
    assert len({len(c) for c in choices}) > 1  # the rows have different lengths: padding is exercised
    heard = model.hear(torch.randn(16000) * 0.1).lm
    state, logits = after_prompt(model, heard, "which? (A) a dog (B) rain")
    fast = choice_scores(model.lm, tok, state, logits, choices)
    slow = torch.tensor([score_one_by_one(model, state.fork(), logits, c) for c in choices])
    torch.testing.assert_close(fast, slow, atol=1e-4, rtol=1e-4)
    assert choose(model.lm, tok, state, logits, choices) == choices[int(slow.argmax())][:-1]


def test_a_question_that_lists_its_answers_gets_the_likeliest_of_them():
    model = tiny_sam()
    tok = model.tokenizer
    heard = model.hear(torch.randn(16000) * 0.1)
    for question in ("Is there a dog? Answer yes or no.", "True or false: it rains.", "Which? (A) a dog (B) rain"):
        answers = stated_answers(question)
        state, logits = after_prompt(model, heard.lm, question)
        scores = [score_one_by_one(model, state.fork(), logits, c) for c in [answer_ids(tok, a) for a in answers]]
        assert model.ask(heard, question).text == answers[max(range(len(answers)), key=scores.__getitem__)]
        free = model.ask(heard, question, max_new_tokens=6, forms=False).text
        assert free == generate(model.lm, tok, heard.lm.fork(), prompt_ids(tok, question), 6).text


def test_batched_answers_choose_as_single_answers_do_and_the_others_decode_as_before():
    model = tiny_sam()
    tok = model.tokenizer
    questions = ["Is there a dog? Answer yes or no.", "what was that", "Which? A. a dog B. rain C. a bell",
                 "t/f: a bell rings", "what else"]
    states = [model.hear(torch.randn(12000 + 4000 * i) * 0.1).lm for i in range(len(questions))]
    prompts = [prompt_ids(tok, q) for q in questions]
    choices = [question_choices(tok, q) for q in questions]
    assert [c is None for c in choices] == [False, True, False, False, True]
    batched = generate_batch(model.lm, tok, [s.fork() for s in states], prompts, 8, choices)
    single = [generate(model.lm, tok, s.fork(), p, 8, choices=c).text for s, p, c in zip(states, prompts, choices)]
    assert batched == single
    free = generate_batch(model.lm, tok, [states[1].fork(), states[4].fork()], [prompts[1], prompts[4]], 8)
    assert [batched[1], batched[4]] == free
    for answer, q in zip(batched, questions):
        assert stated_answers(q) is None or answer in stated_answers(q)
