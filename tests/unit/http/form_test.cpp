// Form-encoded bodies and query strings (Boost.URL).
#include <gtest/gtest.h>

#include <tracker/http/form.hpp>

using tracker::http::form_value;
using tracker::http::parse_form;

TEST(Form, DecodesPlusAsSpaceAndPercentEscapes) {
  // The shape of a slash command's body.
  const auto fields = parse_form(
      "token=x&team_id=T1&command=%2Fstudy&text=settings+tz+Asia%2FSeoul&empty=&flag"
      "&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2F1%2F2");
  ASSERT_TRUE(fields);
  EXPECT_EQ(form_value(*fields, "command"), "/study");
  EXPECT_EQ(form_value(*fields, "text"), "settings tz Asia/Seoul");
  EXPECT_EQ(form_value(*fields, "empty"), "");
  EXPECT_EQ(form_value(*fields, "flag"), "");
  EXPECT_EQ(form_value(*fields, "response_url"), "https://hooks.slack.com/commands/1/2");
  EXPECT_EQ(form_value(*fields, "missing"), std::nullopt);
  // UTF-8 survives.
  EXPECT_EQ(form_value(*parse_form("text=%EA%B3%B5%EB%B6%80"), "text"), "\xea\xb3\xb5\xeb\xb6\x80");
}

TEST(Form, ReadsOnlyTheBytesItIsGiven) {
  // A query as a view into a longer buffer (a request target followed by more of the request).
  const std::string buffer = "code=1&state=abc%2Edef&team_name=Study%20%3CClub%3E HTTP/1.1xVNc_8";
  const auto fields = parse_form(std::string_view(buffer).substr(0, buffer.find(" HTTP")));
  ASSERT_TRUE(fields);
  EXPECT_EQ(form_value(*fields, "state"), "abc.def");
  EXPECT_EQ(form_value(*fields, "team_name"), "Study <Club>");
}

TEST(Form, RefusesABrokenEscape) {
  EXPECT_FALSE(parse_form("text=100%"));
  EXPECT_FALSE(parse_form("text=%zz"));
  EXPECT_TRUE(parse_form("")->empty());
}

TEST(Form, EncodesEverythingButUnreservedCharacters) {
  EXPECT_EQ(tracker::http::form_encode("a-b_c.d~e f+g/h&i=j%"), "a-b_c.d~e%20f%2Bg%2Fh%26i%3Dj%25");
  const tracker::http::FormFields fields = {{"a b", "1+1=2"}, {"text", "공부"}};
  EXPECT_EQ(*parse_form(tracker::http::form_body(fields)), fields);
  EXPECT_EQ(tracker::http::query_of("/p?x=1&y=2"), "x=1&y=2");
  EXPECT_EQ(tracker::http::query_of("/p"), "");
}
