"""One module per task, each defining `TASK`, an instance of `zoo.task.Task`."""
