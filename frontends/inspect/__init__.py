"""The teaching tools: ``dump`` (every pass, as text, diffs and pictures), ``irdiff``, ``dot``,
``report``, ``explain`` (a gradient in the lecture's notation), ``cost`` and ``gradcheck``."""
