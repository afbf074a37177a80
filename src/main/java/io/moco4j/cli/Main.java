package io.moco4j.cli;

/** Entry point placeholder; the picocli command tree is added by the CLI work. */
public final class Main {
    private Main() {}

    public static void main(String[] args) {
        System.out.println("moco4j");
    }
}
