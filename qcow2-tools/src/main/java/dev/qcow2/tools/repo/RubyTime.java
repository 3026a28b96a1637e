package dev.qcow2.tools.repo;

import com.fasterxml.jackson.databind.node.TextNode;

/**
 * A YAML timestamp that Ruby loads as a {@code Time} ({@code creation-time}): text to every reader,
 * but written plain, where a string that merely looks like a timestamp is quoted as Psych quotes
 * it. {@link PsychYaml#parse} gives one for each plain timestamp it reads, so an index written by
 * Cangallo keeps its times.
 */
final class RubyTime extends TextNode {
  private static final long serialVersionUID = 1L;

  RubyTime(String text) {
    super(text);
  }
}
