from thygan.cli.dataset_tool import dataset_tool_command

if __name__ == "__main__":
    dataset_tool_command()
