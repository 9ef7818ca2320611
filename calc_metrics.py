from thygan.cli.metrics import metrics_command

if __name__ == "__main__":
    metrics_command()
