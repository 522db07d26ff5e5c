"""Batch evaluation: ``evaluate(bot, questions)`` and ``python -m eval``.

>>> from qa import QA
>>> from eval import evaluate, load_questions
>>> result = evaluate(QA.load(), load_questions("questions.jsonl"))
>>> result.metrics["has_answer_f1"]
"""

from eval.data import EvalInputError, EvalQuestion, QuestionSet, load_questions
from eval.run import EvalResult, evaluate

__all__ = ["evaluate", "EvalResult", "load_questions", "QuestionSet", "EvalQuestion",
           "EvalInputError"]
